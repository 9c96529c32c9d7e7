package gitlab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// expiringWithin is when a personal token counts as expiring.
const expiringWithin = 30 * 24 * time.Hour

// tokenInfo is what GitLab says about the token a connection uses.
type tokenInfo struct {
	name   string
	scopes []string
	// expiresAt is when the token stops working; zero means never or unknown.
	expiresAt time.Time
}

// inspectToken asks GitLab about the connection's token: GET
// /api/v4/personal_access_tokens/self for personal (and project or group)
// access tokens, GET /oauth/token/info for OAuth access tokens. Both work
// whatever the token's scopes, so scopes are checked before anything else.
func (c *connection) inspectToken(ctx context.Context) (tokenInfo, error) {
	if c.oauth() {
		return c.oauthTokenInfo(ctx)
	}
	pat, resp, err := c.api.PersonalAccessTokens.GetSinglePersonalAccessToken(gl.WithContext(ctx))
	if err != nil {
		if statusOf(resp, err) == http.StatusNotFound {
			return tokenInfo{}, scmerr.New(codes.FailedPrecondition, scmerr.ReasonProviderAPIError,
				"inspect the access token on "+c.origin+": GitLab does not answer /api/v4/personal_access_tokens/self (GitLab 15.5 or later is needed, and the token must be a personal, project or group access token)")
		}
		return tokenInfo{}, c.failure(ctx, "inspect the access token", resp, err)
	}
	info := tokenInfo{name: pat.Name, scopes: pat.Scopes}
	if pat.ExpiresAt != nil {
		// A date: the token stops working at 00:00 UTC of that day.
		d := time.Time(*pat.ExpiresAt).UTC()
		info.expiresAt = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	}
	if pat.Revoked || !pat.Active {
		state := tokenRevoked
		if !pat.Revoked && !info.expiresAt.IsZero() && !time.Now().Before(info.expiresAt) {
			state = tokenExpired
		}
		return info, scmerr.New(codes.Unauthenticated, scmerr.ReasonAuthFailed,
			"inspect the access token on "+c.origin+": the token is "+state+"; create a new one in GitLab",
			scmerr.WithMetadata(metaTokenState, state))
	}
	return info, nil
}

// oauthTokenInfoBody is Doorkeeper's GET /oauth/token/info answer.
type oauthTokenInfoBody struct {
	ResourceOwnerID int64    `json:"resource_owner_id"`
	Scope           []string `json:"scope"`
	Scopes          []string `json:"scopes"` // deprecated alias
	ExpiresIn       *int64   `json:"expires_in"`
}

// oauthTokenInfo reads an OAuth access token's scopes and expiry.
func (c *connection) oauthTokenInfo(ctx context.Context) (tokenInfo, error) {
	var body oauthTokenInfoBody
	if err := c.getJSON(ctx, "inspect the OAuth access token", c.origin+"/oauth/token/info", c.token(), &body); err != nil {
		return tokenInfo{}, err
	}
	info := tokenInfo{scopes: body.Scope}
	if len(info.scopes) == 0 {
		info.scopes = body.Scopes
	}
	if body.ExpiresIn != nil {
		info.expiresAt = time.Now().Add(time.Duration(*body.ExpiresIn) * time.Second).Truncate(time.Second)
	}
	return info, nil
}

// getJSON GETs a GitLab URL outside /api/v4 (OAuth endpoints) with a bearer
// token and decodes the JSON answer, mapping failures like API calls.
func (c *connection) getJSON(ctx context.Context, op, rawURL, bearer string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return scmerr.Newf(codes.Internal, scmerr.ReasonInternal, "%s on %s: build request: %v", op, c.origin, err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportFailure(ctx, op, err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp, 1<<20)
	if err != nil {
		return c.transportFailure(ctx, op, err)
	}
	if resp.StatusCode >= 300 {
		return c.answerFailure(op, &gitlabAnswer{status: resp.StatusCode, header: resp.Header, body: body})
	}
	if err := json.Unmarshal(body, v); err != nil {
		return c.transportFailure(ctx, op, err)
	}
	return nil
}

// currentUser reads the account the token belongs to.
func (c *connection) currentUser(ctx context.Context) (*scmv1.Account, error) {
	u, resp, err := c.api.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		return nil, c.failure(ctx, "read the current user", resp, err)
	}
	return &scmv1.Account{
		Id:        strconv.FormatInt(u.ID, 10),
		Username:  u.Username,
		Name:      u.Name,
		AvatarUrl: u.AvatarURL,
		WebUrl:    u.WebURL,
	}, nil
}

// missingScopes lists the requirements the scopes do not meet, each as
// "a|b" (any one of them would do), in the order of requiredScopes.
func missingScopes(scopes []string) []string {
	var missing []string
	for _, req := range requiredScopes() {
		if !slices.ContainsFunc(req.GetAnyOf(), func(s string) bool { return slices.Contains(scopes, s) }) {
			missing = append(missing, strings.Join(req.GetAnyOf(), "|"))
		}
	}
	return missing
}

// scopesError is PermissionDenied SCOPE_MISSING naming every missing scope.
func scopesError(origin string, missing []string) error {
	words := make([]string, len(missing))
	for i, m := range missing {
		words[i] = strings.ReplaceAll(m, "|", " (or ") + strings.Repeat(")", strings.Count(m, "|"))
	}
	return scmerr.New(codes.PermissionDenied, scmerr.ReasonScopeMissing,
		fmt.Sprintf("the token for %s lacks the scope %s; create a token with the scopes api and read_repository (read_api instead of api is enough without webhooks and commit statuses)",
			origin, strings.Join(words, " and ")),
		scmerr.WithMetadata("missing_scopes", strings.Join(missing, ",")))
}

// scopeCapabilities are the capabilities a token's scopes allow: reading
// and cloning with read_api/api + read_repository; project webhooks and
// commit statuses only with api (GitLab refuses writes to read_api).
func scopeCapabilities(scopes []string) []scmv1.Capability {
	caps := []scmv1.Capability{
		scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION,
		scmv1.Capability_CAPABILITY_CHECK_CREDENTIALS,
		scmv1.Capability_CAPABILITY_LIST_REPOSITORIES,
		scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS,
	}
	if slices.Contains(scopes, ScopeAPI) {
		caps = append(caps, scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS, scmv1.Capability_CAPABILITY_COMMIT_STATUS)
	}
	return caps
}

// unixOrZero is t in Unix seconds, 0 for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// ValidateConnection checks that a host URL and token are usable: the
// token's scopes and expiry (personal_access_tokens/self or
// /oauth/token/info), then whose it is (/api/v4/user).
func (p *Provider) ValidateConnection(ctx context.Context, req *scmv1.ValidateConnectionRequest) (*scmv1.ValidateConnectionResponse, error) {
	c, err := p.connect(req.GetConnection(), connectionRequest{}, nil)
	if err != nil {
		return nil, err
	}
	info, err := c.inspectToken(ctx)
	if err != nil {
		return nil, err
	}
	if missing := missingScopes(info.scopes); len(missing) > 0 {
		return nil, scopesError(c.origin, missing)
	}
	account, err := c.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	return &scmv1.ValidateConnectionResponse{
		HostUrl:      c.origin,
		Account:      account,
		Scopes:       info.scopes,
		ExpiresAt:    unixOrZero(info.expiresAt),
		Capabilities: scopeCapabilities(info.scopes),
		TokenName:    info.name,
	}, nil
}

// CheckCredentials classifies a connection's token. A rejected, expired or
// under-scoped token is an answer, not an error; only bad input is.
//
// EXPIRING applies to personal tokens (expiring within 30 days): OAuth
// access tokens live two hours and are refreshed by the host, so an OAuth
// token is VALID until it has expired (EXPIRED tells the host to refresh).
func (p *Provider) CheckCredentials(ctx context.Context, req *scmv1.CheckCredentialsRequest) (*scmv1.CheckCredentialsResponse, error) {
	c, err := p.connect(req.GetConnection(), connectionRequest{}, nil)
	if err != nil {
		return nil, err
	}
	info, err := c.inspectToken(ctx)
	if err != nil {
		return p.classifyFailure(c, info, err), nil
	}
	now := p.now()
	out := &scmv1.CheckCredentialsResponse{ExpiresAt: unixOrZero(info.expiresAt)}
	switch missing := missingScopes(info.scopes); {
	case len(missing) > 0:
		out.Status = scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED
		out.Detail = "the token lacks the scope " + strings.ReplaceAll(strings.Join(missing, " and "), "|", " or ")
	case !info.expiresAt.IsZero() && !now.Before(info.expiresAt):
		out.Status = scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED
		out.Detail = "the token expired on " + info.expiresAt.Format(time.DateOnly)
	case !info.expiresAt.IsZero() && !c.oauth() && info.expiresAt.Sub(now) <= expiringWithin:
		out.Status = scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRING
		out.Detail = "the token expires " + inDays(info.expiresAt.Sub(now)) + " (" + info.expiresAt.Format(time.DateOnly) + "); create a new one in GitLab and update the connection"
	default:
		out.Status = scmv1.CredentialStatus_CREDENTIAL_STATUS_VALID
		out.Detail = "the token is valid"
		if !info.expiresAt.IsZero() {
			out.Detail += " until " + info.expiresAt.Format(time.DateOnly)
		}
	}
	return out, nil
}

// classifyFailure turns a failed token inspection into a status: GitLab's
// refusals are EXPIRED or REJECTED, everything that kept GitLab from
// answering (network, rate limit, 5xx) is UNKNOWN.
func (p *Provider) classifyFailure(c *connection, info tokenInfo, err error) *scmv1.CheckCredentialsResponse {
	d := scmerr.Parse(err)
	out := &scmv1.CheckCredentialsResponse{ExpiresAt: unixOrZero(info.expiresAt), Detail: d.Message}
	switch {
	case d.Metadata[metaTokenState] == tokenExpired:
		out.Status = scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED
	case d.Code == codes.Unauthenticated, d.Code == codes.PermissionDenied:
		out.Status = scmv1.CredentialStatus_CREDENTIAL_STATUS_REJECTED
	default:
		out.Status = scmv1.CredentialStatus_CREDENTIAL_STATUS_UNKNOWN
	}
	if out.ExpiresAt == 0 && out.Status == scmv1.CredentialStatus_CREDENTIAL_STATUS_EXPIRED {
		out.ExpiresAt = c.creds.GetExpiresAt()
	}
	return out
}

// inDays says a duration in whole days, the way a person reads an expiry.
func inDays(d time.Duration) string {
	days := int(d.Hours() / 24)
	switch days {
	case 0:
		return "within a day"
	case 1:
		return "in 1 day"
	default:
		return fmt.Sprintf("in %d days", days)
	}
}
