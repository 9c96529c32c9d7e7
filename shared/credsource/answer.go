package credsource

import (
	"errors"

	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// refusal reports whether a refresh error means the grant is gone for good,
// and why in words for a person. Other errors (unreachable, rate limited,
// plugin restarting) may pass and leave the integration as it is.
func refusal(err error) (reason string, permanent bool) {
	switch {
	case scmerr.Is(err, scmerr.ReasonInvalidGrant):
		return "the provider refused the refresh token (invalid_grant): it was already used, revoked or has expired", true
	case scmerr.Is(err, scmerr.ReasonInvalidClient):
		return "the provider refused the OAuth application's client id or secret (invalid_client)", true
	}
	return "", false
}

// checkAnswer refuses a refresh answer that must not be saved. A provider
// that rotates refresh tokens (GitLab) has spent the old one, so an answer
// without a new refresh token leaves nothing to refresh with next time.
func checkAnswer(cur, next *scmv1.Credentials) error {
	switch {
	case next == nil:
		return errors.New("the refresh answer held no credentials")
	case next.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_UNSPECIFIED && next.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP:
		return errors.New("the refresh answer is not OAuth credentials")
	case next.GetAccessToken() == "":
		return errors.New("the refresh answer held no access token")
	case next.GetRefreshToken() == "":
		return errors.New("the refresh answer held no new refresh token")
	case sameToken(next.GetRefreshToken(), cur.GetRefreshToken()):
		return errors.New("the refresh answer repeated the old refresh token instead of a new one")
	}
	return nil
}

// merge is the credentials to save: the answer, with the stored OAuth
// client. The client (id, secret, redirect URI) is the host's configuration,
// not the provider's to change, and providers answer without its secret (a
// response never holds one), so the answer's client is used only when none
// is stored.
func merge(cur, next *scmv1.Credentials) *scmv1.Credentials {
	out := proto.CloneOf(next)
	out.AuthMode = scmv1.AuthMode_AUTH_MODE_OAUTH_APP
	if cur.GetOauthClient() != nil {
		out.OauthClient = proto.CloneOf(cur.GetOauthClient())
	}
	return out
}
