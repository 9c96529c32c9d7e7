package credsource

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// DefaultSkew is how long before its expiry an access token is refreshed.
const DefaultSkew = 60 * time.Second

// DefaultRefreshTimeout bounds one refresh: waiting for the store's lock,
// the provider's answer and saving it.
const DefaultRefreshTimeout = 30 * time.Second

// Source hands out fresh credentials for integrations kept in a Store. It is
// safe for concurrent use; create one per host process and share it.
type Source struct {
	store   Store
	refresh RefreshFunc
	now     func() time.Time
	skew    time.Duration
	timeout time.Duration
	log     hclog.Logger
	flights flights
	// held is refreshed credentials whose save failed, kept until it lands.
	held heldSet
	// retryMin and retryMax bound the wait between save attempts.
	retryMin, retryMax time.Duration
}

// Option configures a Source.
type Option func(*Source)

// WithClock sets the clock that decides whether a token is about to expire
// (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithSkew sets how long before expiry a token is refreshed (default
// DefaultSkew). A negative value is treated as zero.
func WithSkew(d time.Duration) Option { return func(s *Source) { s.skew = max(d, 0) } }

// WithRefreshTimeout bounds one refresh, lock wait and save included (default
// DefaultRefreshTimeout). The refresh does not end when the caller's context
// does: tokens the provider has already rotated must still be saved. When
// the save fails, it is retried under the lock until this timeout, and then
// again in the background, each attempt bounded by it too (see the package
// documentation).
func WithRefreshTimeout(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithLogger sets the logger (default: a null logger). It receives the
// integration id, expiry times and reasons; never a token.
func WithLogger(l hclog.Logger) Option { return func(s *Source) { s.log = l } }

// New returns a Source over store that refreshes OAuth credentials with refresh.
func New(store Store, refresh RefreshFunc, opts ...Option) *Source {
	s := &Source{
		store:    store,
		refresh:  refresh,
		now:      time.Now,
		skew:     DefaultSkew,
		timeout:  DefaultRefreshTimeout,
		log:      hclog.NewNullLogger(),
		retryMin: defaultRetryMin,
		retryMax: defaultRetryMax,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Credentials returns the integration's credentials, refreshed first when
// they are OAuth credentials within the skew of their expiry (or past it).
// Personal tokens, and OAuth tokens without a known expiry, are returned as
// stored. Concurrent callers share one refresh. When ctx ends while the
// refresh runs, Credentials returns ctx's error at once and the refresh goes
// on (its result is saved for the next caller).
//
// While refreshed credentials could not be saved yet, they are returned
// instead of the store's, until their access token expires; then the error
// wraps ErrCredentialsNotSaved (and never ErrReconnectRequired).
func (s *Source) Credentials(ctx context.Context, integrationID string) (*scmv1.Credentials, error) {
	if h := s.held.get(integrationID); h != nil {
		return s.serveHeld(integrationID, h, want{})
	}
	cur, err := s.store.Load(ctx, integrationID)
	if err != nil {
		return nil, fmt.Errorf("load credentials of integration %q: %w", integrationID, err)
	}
	if !s.expiring(cur) {
		return cur, nil
	}
	creds, _, err := s.await(ctx, integrationID, want{})
	return creds, err
}

// ForceRefresh refreshes the integration's credentials after the provider
// refused stale, whatever their stored expiry says, unless the stored access
// token is no longer stale's: then another caller or host has refreshed
// already and the stored credentials are returned without a refresh.
//
// Call it when an OAuth access token is refused as expired (reason
// TOKEN_EXPIRED: the host's clock is behind the provider's) or as revoked
// (AUTH_FAILED): a refresh revokes the access token it replaces, so a call
// still in flight with the old token while another caller refreshed is
// refused that way. If the grant itself was revoked, the refresh is refused
// and the error wraps ErrReconnectRequired. A personal token is not
// refreshable: the error wraps ErrNotRefreshable. While refreshed credentials
// are not saved yet, their access token is not refreshed again: the error
// wraps ErrCredentialsNotSaved.
func (s *Source) ForceRefresh(ctx context.Context, integrationID string, stale *scmv1.Credentials) (*scmv1.Credentials, error) {
	if stale.GetAccessToken() == "" {
		return nil, fmt.Errorf("force refresh of integration %q: the stale credentials hold no access token", integrationID)
	}
	if stale.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP {
		return nil, fmt.Errorf("force refresh of integration %q (%s): %w", integrationID, stale.GetAuthMode(), ErrNotRefreshable)
	}
	w := want{force: true, stale: stale.GetAccessToken()}
	for {
		creds, led, err := s.await(ctx, integrationID, w)
		if err != nil {
			return nil, err
		}
		if creds.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP {
			return nil, fmt.Errorf("force refresh of integration %q (%s): %w", integrationID, creds.GetAuthMode(), ErrNotRefreshable)
		}
		// A flight this call only joined may have been a Credentials refresh
		// that found the (rejected) token still fresh: then refresh on our terms.
		if led || !sameToken(creds.GetAccessToken(), w.stale) {
			return creds, nil
		}
	}
}

// want is what a refresh is for: a Credentials refresh replaces a token about
// to expire; a forced one replaces one particular rejected access token.
type want struct {
	force bool
	stale string
}

// needs reports whether cur must be refreshed for w.
func (s *Source) needs(cur *scmv1.Credentials, w want) bool {
	if cur.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP {
		return false
	}
	if w.force {
		return sameToken(cur.GetAccessToken(), w.stale)
	}
	return s.expiring(cur)
}

// expiring reports whether cur is OAuth credentials within the skew of their
// known expiry.
func (s *Source) expiring(cur *scmv1.Credentials) bool {
	if cur.GetAuthMode() != scmv1.AuthMode_AUTH_MODE_OAUTH_APP || cur.GetExpiresAt() == 0 {
		return false
	}
	return !s.now().Add(s.skew).Before(time.Unix(cur.GetExpiresAt(), 0))
}

// await joins or starts this process's refresh of the integration and waits
// for it. led reports whether this call started it (so it ran with w).
// Unsaved refreshed credentials are the answer without a flight (led is
// then true: they are final).
func (s *Source) await(ctx context.Context, integrationID string, w want) (*scmv1.Credentials, bool, error) {
	if h := s.held.get(integrationID); h != nil {
		creds, err := s.serveHeld(integrationID, h, w)
		return creds, true, err
	}
	// The refresh outlives a cancelled caller, within its own timeout; the
	// caller's values (trace ids, a store's request scope) still flow.
	rctx := context.WithoutCancel(ctx)
	fl, led := s.flights.join(integrationID, func(publish publishFunc) (*scmv1.Credentials, error) {
		return s.fly(rctx, integrationID, w, publish)
	})
	select {
	case <-fl.done:
	case <-ctx.Done():
		return nil, led, fmt.Errorf("wait for the credentials refresh of integration %q: %w", integrationID, ctx.Err())
	}
	if fl.err != nil {
		return nil, led, fl.err
	}
	// Every caller gets its own copy: a caller that changes its message must
	// not change another's.
	return proto.CloneOf(fl.creds), led, nil
}

// fly is one flight: the refresh, within the refresh timeout. When the
// provider answered but the store did not take the answer, the new
// credentials are kept (callers get them at once) and the flight goes on
// saving them in the background, beyond the timeout, until the save lands.
func (s *Source) fly(ctx context.Context, integrationID string, w want, publish publishFunc) (*scmv1.Credentials, error) {
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	creds, h, err := s.refreshIfNeeded(tctx, integrationID, w, publish)
	cancel()
	if h == nil {
		return creds, err
	}
	if err == nil {
		s.settle(integrationID, h)
		if h.state().superseded {
			return nil, fmt.Errorf("refresh credentials of integration %q: the integration's credentials were replaced during the refresh; try again", integrationID)
		}
		return creds, nil
	}
	// Not saved, or not committed: keep them (the first failed save inside
	// the lock did already), hand them out, and keep saving.
	if s.held.get(integrationID) != h {
		// The store failed at commit, after fn succeeded.
		s.log.Error("refreshed credentials could not be saved; handing them out and retrying the save",
			"integration_id", integrationID, "error", err)
		h.failed(err, s.now())
		s.held.put(integrationID, h)
	}
	publish(s.serveHeld(integrationID, h, w))
	s.keepSaving(ctx, integrationID, h)
	return nil, nil // published already
}

// refreshIfNeeded loads the credentials, and when they still need
// refreshing, takes the store's lock, loads them again and refreshes. The
// first load spares the lock to callers that lost a race with a flight that
// has just saved. h is set when the provider issued new credentials; err is
// then the store's failure to take them.
func (s *Source) refreshIfNeeded(ctx context.Context, integrationID string, w want, publish publishFunc) (creds *scmv1.Credentials, h *held, err error) {
	if h := s.held.get(integrationID); h != nil {
		// A flight kept unsaved credentials after this caller looked.
		creds, err := s.serveHeld(integrationID, h, w)
		return creds, nil, err
	}
	cur, err := s.store.Load(ctx, integrationID)
	if err != nil {
		return nil, nil, fmt.Errorf("load credentials of integration %q: %w", integrationID, err)
	}
	if !s.needs(cur, w) {
		return cur, nil, nil
	}
	// fn returns an error only when the store itself failed, so a store that
	// rolls back on error keeps a reconnection mark; the refresh's own
	// failure travels in outcome.
	var out *scmv1.Credentials
	var outcome error
	err = s.store.WithRefreshLock(ctx, integrationID, func(lctx context.Context) error {
		if held := s.held.get(integrationID); held != nil {
			// Kept by a flight that held this lock until just now: the
			// stored refresh token is spent.
			out, outcome = s.serveHeld(integrationID, held, w)
			return nil
		}
		cur, err := s.store.Load(lctx, integrationID)
		if err != nil {
			return fmt.Errorf("load credentials of integration %q under its refresh lock: %w", integrationID, err)
		}
		if !s.needs(cur, w) {
			s.log.Debug("credentials already refreshed elsewhere", "integration_id", integrationID)
			out = cur
			return nil
		}
		out, h, outcome, err = s.refreshLocked(lctx, integrationID, cur, w, publish)
		return err
	})
	if err != nil {
		return nil, h, err
	}
	if outcome != nil {
		return nil, h, outcome
	}
	return out, h, nil
}

// refreshLocked refreshes cur, under the integration's refresh lock, and
// saves the answer or marks the integration for reconnection. It returns the
// credentials to hand out, or why there are none (outcome), or the store's
// error when saving or marking failed; and the new credentials as h once the
// provider issued them.
//
// When the save fails, the new credentials are kept in the Source and handed
// to the waiters (publish) at once, and the save is retried while this
// flight holds the lock, until ctx's deadline: meanwhile other hosts wait for
// the lock instead of refreshing with the spent refresh token.
func (s *Source) refreshLocked(ctx context.Context, integrationID string, cur *scmv1.Credentials, w want, publish publishFunc) (creds *scmv1.Credentials, h *held, outcome, storeErr error) {
	if cur.GetRefreshToken() == "" {
		creds, outcome, storeErr = s.reconnect(ctx, integrationID, "no refresh token is stored for the integration", nil)
		return creds, nil, outcome, storeErr
	}
	next, err := s.refresh(ctx, proto.CloneOf(cur))
	if err != nil {
		if reason, permanent := refusal(err); permanent {
			creds, outcome, storeErr = s.reconnect(ctx, integrationID, reason, err)
			return creds, nil, outcome, storeErr
		}
		if !w.force && s.now().Before(time.Unix(cur.GetExpiresAt(), 0)) {
			// Refreshed early, failed for a reason that may pass (provider
			// unreachable, rate limited): the stored token still works a while.
			s.log.Warn("credentials refresh failed; using the current access token until it expires",
				"integration_id", integrationID, "expires_at", cur.GetExpiresAt(), "error", err)
			return cur, nil, nil, nil
		}
		return nil, nil, fmt.Errorf("refresh credentials of integration %q: %w", integrationID, err), nil
	}
	if err := checkAnswer(cur, next); err != nil {
		creds, outcome, storeErr = s.reconnect(ctx, integrationID, err.Error(), nil)
		return creds, nil, outcome, storeErr
	}
	saved := merge(cur, next)
	h = &held{creds: saved, base: cur.GetRefreshToken()}
	if err := s.store.Save(ctx, integrationID, saved); err != nil {
		// The provider has rotated the tokens: these are the only copy of
		// the grant. Keep them, hand them out, and retry.
		err = fmt.Errorf("save refreshed credentials of integration %q: %w", integrationID, err)
		s.log.Error("refreshed credentials could not be saved; handing them out and retrying the save",
			"integration_id", integrationID, "error", err)
		h.failed(err, s.now())
		s.held.put(integrationID, h)
		publish(s.serveHeld(integrationID, h, w))
		if err := s.saveHeldLocked(ctx, integrationID, h, true); err != nil {
			return nil, h, nil, err
		}
	}
	s.log.Info("credentials refreshed", "integration_id", integrationID, "expires_at", saved.GetExpiresAt())
	return saved, h, nil, nil
}

// reconnect marks the integration for reconnection. The outcome every waiter
// gets wraps ErrReconnectRequired and the cause (the provider's error, or
// reason in words when there is none).
func (s *Source) reconnect(ctx context.Context, integrationID, reason string, cause error) (creds *scmv1.Credentials, outcome, storeErr error) {
	s.log.Warn("integration needs reconnecting", "integration_id", integrationID, "reason", reason)
	if cause == nil {
		cause = errors.New(reason)
	}
	outcome = fmt.Errorf("refresh credentials of integration %q: %w: %w", integrationID, ErrReconnectRequired, cause)
	if err := s.store.MarkReconnect(ctx, integrationID, reason); err != nil {
		return nil, nil, errors.Join(outcome, fmt.Errorf("mark integration %q for reconnection: %w", integrationID, err))
	}
	return nil, outcome, nil
}

// sameToken compares two tokens in constant time.
func sameToken(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
