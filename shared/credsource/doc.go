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
//     caller receives them, unless the save fails (below);
//   - a refresh the provider refuses for good (reason INVALID_GRANT or
//     INVALID_CLIENT), and an answer without a new refresh token, marks the
//     integration for reconnection ([Store.MarkReconnect]) and returns
//     [ErrReconnectRequired] to every waiter. Nothing retries in a loop.
//
// # When the save fails
//
// The provider has rotated the refresh token by the time its answer is to be
// saved, so when the store refuses the answer (a database blip, a full disk, a
// lock timeout, a failed commit) it is the only copy of the grant. Dropping it
// would have the next refresh refused and the integration marked for
// reconnection. The Source keeps it in memory, per integration, and:
//
//   - hands it out: the callers waiting for the refresh get the new access
//     token as soon as the first save failed, not an error (a webhook or a
//     repository listing should not fail because the database blipped), and
//     later callers get it too, in preference to what the store holds, while
//     it is valid (until its expiry: it cannot be refreshed early);
//   - refreshes neither with the spent refresh token nor with the kept one
//     while the kept credentials are unsaved: once the kept access token has
//     expired, or when [Source.ForceRefresh] is asked to replace it, the
//     error wraps [ErrCredentialsNotSaved], never [ErrReconnectRequired];
//   - retries the save, with waits doubling from 100 ms to 5 s: first while
//     the refresh still holds the store's lock, until the refresh timeout;
//     then in the background, each attempt under the lock for at most the
//     refresh timeout, until one lands. Each attempt loads first: a
//     reconnection mark is overwritten (Save clears it), credentials the
//     store got meanwhile from elsewhere (the user reconnected) win and the
//     kept ones are dropped, and a save that reported failure but was
//     committed is recognised.
//
// Guaranteed: while the process lives, a failing store does not lose a
// rotated grant, and this process sends no refresh with a spent refresh
// token. Not guaranteed:
//
//   - a host process that dies (crash, deploy, out of memory) while it holds
//     unsaved credentials loses them: the stored refresh token is spent, the
//     next refresh is refused and the integration is marked for
//     reconnection. That is the only remaining loss.
//   - other hosts sharing the store cannot see the kept credentials. While
//     this host retries it holds the refresh lock, taking it again at once
//     after each attempt, so other hosts wait for the lock (their callers may
//     time out waiting) instead of refreshing. A host that gets the lock
//     between two attempts, or while this host cannot reach the store at all,
//     reads the spent tokens, is refused and marks the integration for
//     reconnection; this host's save clears the mark as soon as the store
//     takes it (within the 5 s retry cap once it takes writes again). Reading
//     the store again after a refusal would not help that host: nothing can
//     be saved while it holds the lock.
//   - a Source has no Close: the background retry runs until a save lands.
//
// Personal tokens pass through untouched. The package knows nothing about a
// particular provider: the [RefreshFunc] a host passes to [New] calls the
// plugin (scm.v1 RefreshCredentials). [NewMemoryStore] is a [Store] for tests
// and for hosts that do not share a database.
//
// What it is not: a token cache. Every [Source.Credentials] call loads the
// integration from the store, which is the one source of truth, so a token
// another host refreshed is seen at once; the one exception is refreshed
// credentials the store has not taken yet (above).
package credsource
