package e2ekit

import (
	"io"
	"strings"
	"sync"
	"testing"
)

// TestLog is a writer to t's log for loggers of servers and plugins the
// test runs in its own process. What they still write after the test's
// cleanup began is dropped (t.Log would panic then). Call it before
// registering the cleanups that stop those servers: its own cleanup then
// runs last.
func TestLog(t testing.TB) io.Writer {
	w := &testLog{t: t}
	t.Cleanup(w.stop)
	return w
}

type testLog struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLog) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
