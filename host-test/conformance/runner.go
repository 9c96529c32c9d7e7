package conformance

import (
	"context"
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// Status is the outcome of one case.
type Status string

// The outcomes of a case.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is what one case found.
type Result struct {
	// Name is the case's name, "group/case".
	Name string
	// Status is pass, fail or skip.
	Status Status
	// Problems lists every failed check, one per entry (Fail only).
	Problems []string
	// SkipReason says why the case did not run (Skip only).
	SkipReason string
	// Logs are the case's notes: what it checked and measured.
	Logs []string
	// Duration is how long the case took.
	Duration time.Duration
}

// testCase is one entry of the suite's case table.
type testCase struct {
	name string
	// needs are capabilities the provider must announce, else the case skips.
	needs []scmv1.Capability
	run   func(c *C)
}

// C is a running case: it records problems, notes and cleanups, like a
// testing.T that the suite owns. Fatalf and Skipf end the case and must be
// called from the case's own goroutine; Errorf and Logf are safe anywhere.
type C struct {
	ctx   context.Context
	s     *suite
	name  string
	start time.Time

	mu       sync.Mutex
	problems []string
	logs     []string
	skip     string
	cleanups []func()
}

// Context ends when the case times out or the run is cancelled.
func (c *C) Context() context.Context { return c.ctx }

// Errorf records a problem; the case goes on.
func (c *C) Errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// Fatalf records a problem and ends the case.
func (c *C) Fatalf(format string, args ...any) {
	c.Errorf(format, args...)
	runtime.Goexit()
}

// Skipf ends the case as skipped, with why.
func (c *C) Skipf(format string, args ...any) {
	c.mu.Lock()
	c.skip = fmt.Sprintf(format, args...)
	c.mu.Unlock()
	runtime.Goexit()
}

// Logf records a note.
func (c *C) Logf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs = append(c.logs, fmt.Sprintf(format, args...))
}

// Cleanup registers f to run when the case ends, last registered first.
func (c *C) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

// run executes one case and returns its result. A case that does not end
// within its timeout (plus a grace period) is abandoned and fails.
func (s *suite) run(tc testCase) Result {
	start := time.Now()
	for _, need := range tc.needs {
		if !s.announces(need) {
			return Result{Name: tc.name, Status: Skip, Duration: time.Since(start),
				SkipReason: fmt.Sprintf("the provider does not announce capability %s", manifest.CapabilityName(need))}
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CaseTimeout)
	defer cancel()
	c := &C{ctx: ctx, s: s, name: tc.name, start: start}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				c.Errorf("the case itself panicked (a bug in the suite or the backend): %v\n%s", r, debug.Stack())
			}
		}()
		tc.run(c)
	}()
	select {
	case <-done:
	case <-time.After(s.cfg.CaseTimeout + 5*time.Second):
		c.Errorf("the case did not end within %s: a call to the plugin ignored its deadline", s.cfg.CaseTimeout)
	}
	c.mu.Lock()
	cleanups := c.cleanups
	c.cleanups = nil
	c.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Result{Name: tc.name, Logs: c.logs, Duration: time.Since(start)}
	switch {
	case len(c.problems) > 0:
		r.Status, r.Problems = Fail, c.problems
	case c.skip != "":
		r.Status, r.SkipReason = Skip, c.skip
	default:
		r.Status = Pass
	}
	return r
}

// CaseNames lists every case of the suite, in the order they run.
func CaseNames() []string {
	var names []string
	for _, tc := range allCases() {
		names = append(names, tc.name)
	}
	return names
}

// Execute launches the plugin, runs every case (those matching cfg.Run)
// in order, calls report with each result as it is known, and returns
// them all. The error is for a run that could not start: a manifest that
// does not load or a plugin that a host would refuse.
func Execute(ctx context.Context, cfg Config, report func(Result)) ([]Result, error) {
	var filter *regexp.Regexp
	if cfg.Run != "" {
		re, err := regexp.Compile(cfg.Run)
		if err != nil {
			return nil, fmt.Errorf("conformance: case filter %q: %w", cfg.Run, err)
		}
		filter = re
	}
	s, err := start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var results []Result
	for _, tc := range allCases() {
		if filter != nil && !filter.MatchString(tc.name) {
			continue
		}
		r := s.run(tc)
		results = append(results, r)
		if report != nil {
			report(r)
		}
	}
	return results, nil
}

// String is the result as one report line, with its problems or skip
// reason on the lines below.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s %s (%s)", strings.ToUpper(string(r.Status)), r.Name, r.Duration.Round(time.Millisecond))
	switch r.Status {
	case Skip:
		fmt.Fprintf(&b, ": %s", r.SkipReason)
	case Fail:
		for _, p := range r.Problems {
			b.WriteString("\n     - " + strings.ReplaceAll(p, "\n", "\n       "))
		}
	}
	return b.String()
}
