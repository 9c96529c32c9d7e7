package credsource

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Defaults for retrying a failed save of refreshed credentials: the wait
// after a failed attempt starts at defaultRetryMin and doubles up to
// defaultRetryMax. The cap also bounds how long a reconnection mark another
// host set meanwhile survives once the store takes writes again.
const (
	defaultRetryMin = 100 * time.Millisecond
	defaultRetryMax = 5 * time.Second
)

// held is refreshed credentials the provider issued that the store has not
// taken yet. The provider rotated the refresh token they replaced, so while
// the save fails they are the only copy of the integration's grant: the
// Source hands them out, never refreshes with the spent token, and retries
// the save until it lands.
type held struct {
	creds *scmv1.Credentials // as they are to be saved
	base  string             // the refresh token they replaced, spent at the provider

	mu         sync.Mutex
	err        error     // why the last save attempt failed
	since      time.Time // when the first save failed
	failures   int
	superseded bool // the store holds other credentials now: these are dropped
}

func (h *held) failed(err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures == 0 {
		h.since = now
	}
	h.failures++
	h.err = err
}

// heldState is a snapshot of a held's save attempts.
type heldState struct {
	err        error
	since      time.Time
	failures   int
	superseded bool
}

func (h *held) state() heldState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return heldState{err: h.err, since: h.since, failures: h.failures, superseded: h.superseded}
}

// heldSet is the Source's unsaved credentials, by integration.
type heldSet struct {
	mu sync.Mutex
	m  map[string]*held
}

func (hs *heldSet) get(id string) *held {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.m[id]
}

func (hs *heldSet) put(id string, h *held) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m == nil {
		hs.m = map[string]*held{}
	}
	hs.m[id] = h
}

// drop forgets h (and nothing newer held for id).
func (hs *heldSet) drop(id string, h *held) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m[id] == h {
		delete(hs.m, id)
	}
}

// serveHeld is what a caller gets while h is unsaved: its access token while
// it is valid (the skew is ignored: it cannot be refreshed early), else an
// error wrapping ErrCredentialsNotSaved. A forced refresh of the held access
// token itself is refused the same way: refreshing again before the store
// took the held refresh token would put a second unsaved rotation on top.
func (s *Source) serveHeld(integrationID string, h *held, w want) (*scmv1.Credentials, error) {
	st := h.state()
	cause, since := st.err, st.since
	if cause == nil {
		cause = errors.New("the save has not been attempted again yet")
	}
	if w.force && sameToken(h.creds.GetAccessToken(), w.stale) {
		return nil, fmt.Errorf("force refresh of integration %q: %w since %s; the provider refused the refreshed access token, which is not refreshed again before the store took it: %w",
			integrationID, ErrCredentialsNotSaved, since.UTC().Format(time.RFC3339), cause)
	}
	if exp := h.creds.GetExpiresAt(); exp != 0 && !s.now().Before(time.Unix(exp, 0)) {
		return nil, fmt.Errorf("credentials of integration %q: %w since %s and their access token expired at %s; the grant itself is intact (do not reconnect): %w",
			integrationID, ErrCredentialsNotSaved, since.UTC().Format(time.RFC3339), time.Unix(exp, 0).UTC().Format(time.RFC3339), cause)
	}
	return proto.CloneOf(h.creds), nil
}

// keepSaving retries the save of h until it lands or the store holds other
// credentials, each attempt under the integration's refresh lock for at most
// the refresh timeout. An attempt that used its whole timeout (it held the
// lock, or waited for it) is followed at once by the next, so other hosts
// get the lock as rarely as possible while this one holds the only valid
// refresh token; one that failed fast waits first, with doubling waits.
func (s *Source) keepSaving(ctx context.Context, integrationID string, h *held) {
	delay := s.retryMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.timeout)
		err := s.store.WithRefreshLock(actx, integrationID, func(lctx context.Context) error {
			return s.saveHeldLocked(lctx, integrationID, h, false)
		})
		usedTimeout := actx.Err() != nil
		cancel()
		if err == nil {
			s.settle(integrationID, h)
			return
		}
		h.failed(err, s.now())
		if attempt <= 3 || attempt%10 == 0 {
			st := h.state()
			s.log.Warn("refreshed credentials still not saved; they are kept and the save is retried",
				"integration_id", integrationID, "unsaved_since", st.since.Unix(), "failed_saves", st.failures, "error", err)
		}
		if usedTimeout {
			delay = s.retryMin
			continue
		}
		time.Sleep(delay)
		delay = min(2*delay, s.retryMax)
	}
}

// settle forgets h once the store committed it (or holds other credentials).
func (s *Source) settle(integrationID string, h *held) {
	s.held.drop(integrationID, h)
	st := h.state()
	if st.superseded {
		s.log.Warn("unsaved refreshed credentials dropped: the store holds other credentials for the integration (reconnected or replaced meanwhile)",
			"integration_id", integrationID, "unsaved_since", st.since.Unix())
		return
	}
	if st.failures > 0 {
		s.log.Info("refreshed credentials saved after failed saves", "integration_id", integrationID, "failed_saves", st.failures, "expires_at", h.creds.GetExpiresAt())
	}
}

// saveHeldLocked tries to save h, under the refresh lock ctx carries, until
// an attempt succeeds or ctx ends; waitFirst waits before the first attempt
// (one has just failed). It returns the last attempt's error.
func (s *Source) saveHeldLocked(ctx context.Context, integrationID string, h *held, waitFirst bool) error {
	delay := s.retryMin
	lastErr := h.state().err
	for wait := waitFirst; ; wait = true {
		if wait {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				if lastErr == nil {
					lastErr = ctx.Err()
				}
				return lastErr
			case <-t.C:
			}
			delay = min(2*delay, s.retryMax)
		}
		err := s.saveHeldOnce(ctx, integrationID, h)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil && lastErr != nil {
			// The attempt was cut short by the timeout; the store's own
			// error says more.
			return lastErr
		}
		lastErr = err
		h.failed(err, s.now())
	}
}

// saveHeldOnce is one save attempt of h under the refresh lock: the store is
// read first, because it may have moved on.
func (s *Source) saveHeldOnce(ctx context.Context, integrationID string, h *held) error {
	cur, err := s.store.Load(ctx, integrationID)
	switch {
	case errors.Is(err, ErrReconnectRequired):
		// Another host refreshed with the spent refresh token in a gap
		// between two attempts and was refused. The held credentials are the
		// grant: saving them clears that mark.
	case errors.Is(err, ErrUnknownIntegration):
		h.mu.Lock()
		h.superseded = true
		h.mu.Unlock()
		return nil
	case err != nil:
		return fmt.Errorf("load credentials of integration %q to save the refreshed ones: %w", integrationID, err)
	case sameToken(cur.GetRefreshToken(), h.creds.GetRefreshToken()):
		// An attempt that reported failure was committed after all.
		return nil
	case !sameToken(cur.GetRefreshToken(), h.base):
		// Not the credentials they were refreshed from: the integration was
		// reconnected or given other credentials meanwhile. Those win.
		h.mu.Lock()
		h.superseded = true
		h.mu.Unlock()
		return nil
	}
	if err := s.store.Save(ctx, integrationID, h.creds); err != nil {
		return fmt.Errorf("save refreshed credentials of integration %q: %w", integrationID, err)
	}
	return nil
}
