package credsource

import (
	"fmt"
	"sync"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// flights is the in-process single flight: at most one refresh per
// integration runs in this process, and every caller that asks while it runs
// waits for it and shares its result. It keeps a burst of callers to one
// acquisition of the store's (possibly cross-process) lock.
//
// Unlike golang.org/x/sync/singleflight, the work runs in its own goroutine
// on a context no caller can cancel: once a refresh request is on its way the
// provider may already have rotated the tokens, so the answer must be saved
// even when every caller has given up. Each waiter still returns as soon as
// its own context is done.
//
// A flight may publish its result before its work ends (a refresh whose save
// failed hands out the new tokens and goes on saving them): the waiters
// return then, and the integration is free for a new flight.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one refresh in progress; creds and err are set before done closes.
type flight struct {
	done  chan struct{}
	once  sync.Once
	creds *scmv1.Credentials
	err   error
	// joined counts the calls that joined after the first (guarded by flights.mu).
	joined int
}

// publishFunc hands a flight's result to its waiters; calls after the first
// do nothing.
type publishFunc func(*scmv1.Credentials, error)

// join returns the flight running for key, or starts fn as a new one. led
// reports whether this call started it. fn's result is published when fn
// returns, unless fn published one before.
func (f *flights) join(key string, fn func(publish publishFunc) (*scmv1.Credentials, error)) (fl *flight, led bool) {
	f.mu.Lock()
	if running, ok := f.m[key]; ok {
		running.joined++
		f.mu.Unlock()
		return running, false
	}
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	fl = &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()

	publish := func(creds *scmv1.Credentials, err error) {
		fl.once.Do(func() {
			fl.creds, fl.err = creds, err
			f.mu.Lock()
			if f.m[key] == fl {
				delete(f.m, key)
			}
			f.mu.Unlock()
			close(fl.done)
		})
	}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				// The panic value is left out: it might hold a token.
				publish(nil, fmt.Errorf("refresh credentials of integration %q: the refresh panicked", key))
			}
		}()
		publish(fn(publish))
	}()
	return fl, true
}

// joiners is how many calls joined the flight running for key (0 when none runs).
func (f *flights) joiners(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		return fl.joined
	}
	return 0
}
