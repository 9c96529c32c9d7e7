// Package credsource hands a host fresh SCM credentials for an integration,
// refreshing OAuth tokens safely when they are about to expire.
//
// GitLab's OAuth access tokens live two hours and GitLab rotates refresh
// tokens: using a refresh token invalidates it and the access token it came
// with, and a second use of the same refresh token is refused with
// invalid_grant. A host that refreshes carelessly (two requests at once, or
// the new access token used before the new refresh token is stored) loses the
// grant and the user has to reconnect. A [Source] keeps the rules that avoid
// that:
//
//   - an access token is refreshed [DefaultSkew] (60 s) before it expires;
//   - one refresh at a time per integration: concurrent callers in one process
//     share one refresh (in-process single flight), and the [Store] supplies a
//     lock that also holds across processes when several hosts share a
//     database; under the lock the credentials are loaded again, so a host
//     that lost the race uses the tokens the winner stored;
//   - the new access and refresh token are saved (one [Store.Save]) before any
//     caller receives them;
//   - a refresh the provider refuses for good (reason INVALID_GRANT or
//     INVALID_CLIENT), and an answer without a new refresh token, marks the
//     integration for reconnection ([Store.MarkReconnect]) and returns
//     [ErrReconnectRequired] to every waiter. Nothing retries in a loop.
//
// Personal tokens pass through untouched. The package knows nothing about a
// particular provider: the [RefreshFunc] a host passes to [New] calls the
// plugin (scm.v1 RefreshCredentials). [NewMemoryStore] is a [Store] for tests
// and for hosts that do not share a database.
//
// What it is not: a token cache. Every [Source.Credentials] call loads the
// integration from the store, which is the one source of truth, so a token
// another host refreshed is seen at once.
package credsource
