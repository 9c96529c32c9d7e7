package credsource_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// A host wraps its store and the plugin's RefreshCredentials in a Source, and
// asks it for credentials before every call to the provider. When the
// provider still refuses the OAuth token (TOKEN_EXPIRED: the host's clock is
// off; AUTH_FAILED: another caller's refresh revoked it meanwhile), it forces
// one refresh and retries once.
func Example() {
	ctx := context.Background()
	store := credsource.NewMemoryStore()
	_ = store.Save(ctx, "integration-1", &scmv1.Credentials{
		AuthMode:     scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
		AccessToken:  "old-access",
		RefreshToken: "old-refresh",
		ExpiresAt:    time.Now().Add(30 * time.Second).Unix(), // within the 60 s skew
	})

	// In a host this calls the plugin:
	//   resp, err := provider.RefreshCredentials(ctx, &scmv1.RefreshCredentialsRequest{
	//       Connection: &scmv1.Connection{HostUrl: hostURL, Credentials: creds, Tls: tls}})
	refresh := func(ctx context.Context, creds *scmv1.Credentials) (*scmv1.Credentials, error) {
		return &scmv1.Credentials{
			AuthMode:     scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
			AccessToken:  "new-access",
			RefreshToken: "new-refresh",
			ExpiresAt:    time.Now().Add(2 * time.Hour).Unix(),
		}, nil
	}
	src := credsource.New(store, refresh)

	callProvider := func(creds *scmv1.Credentials) error { return nil } // e.g. ListRepositories

	creds, err := src.Credentials(ctx, "integration-1")
	if errors.Is(err, credsource.ErrReconnectRequired) {
		fmt.Println("409 gitlab_reconnect_required")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	err = callProvider(creds)
	if scmerr.Is(err, scmerr.ReasonTokenExpired) || scmerr.Is(err, scmerr.ReasonAuthFailed) {
		if creds, err = src.ForceRefresh(ctx, "integration-1", creds); err == nil {
			err = callProvider(creds)
		}
	}
	fmt.Println(creds.GetAccessToken(), err)
	// Output: new-access <nil>
}
