package conformance

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// procStatus reads fields of /proc/<pid>/status measured in kB, in bytes.
func procStatus(pid int, fields ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for _, want := range fields {
			if name != want {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read %s of process %d: %w", name, pid, err)
			}
			out[name] = kb << 10
		}
	}
	for _, want := range fields {
		if _, ok := out[want]; !ok {
			return nil, fmt.Errorf("process %d has no %s in /proc/<pid>/status", pid, want)
		}
	}
	return out, sc.Err()
}

// caseListMemory streams a large listing from a fresh plugin process and
// checks that its peak resident memory (VmHWM) grew by at most
// Config.MaxRSSGrowth over its resident memory before the listing (VmRSS):
// a provider streams page by page, it does not hold the whole listing.
func caseListMemory(c *C) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		c.Skipf("no /proc on this system: the plugin's memory cannot be read")
	}
	seeding := time.Now()
	tc, err := c.s.cfg.Backend.LargeConnection(c.ctx, c.s.cfg.LargeListing)
	switch {
	case isUnsupported(err):
		c.Skipf("the backend cannot seed a large listing: %v", err)
	case err != nil:
		c.Fatalf("the backend failed to seed %d repositories: %v", c.s.cfg.LargeListing, err)
	case tc == nil || tc.Connection == nil:
		c.Fatalf("the backend's LargeConnection returned no connection")
	}
	c.s.secrets.addConnection("the large listing's connection", tc.Connection)
	c.Logf("the backend seeded %d repositories in %s", len(tc.Repositories), time.Since(seeding).Round(time.Millisecond))
	p, err := c.s.launch(c.ctx)
	if err != nil {
		c.Fatalf("launch a fresh plugin process: %v", err)
	}
	defer p.Close()
	pid := p.Pid()
	if _, err := p.Provider().GetProviderInfo(c.ctx, &scmv1.GetProviderInfoRequest{}); !c.ok("GetProviderInfo", err) {
		return
	}
	before, err := procStatus(pid, "VmRSS")
	if err != nil {
		c.Fatalf("%v", err)
	}
	listing := time.Now()
	l, err := listAll(c.ctx, p.Provider(), &scmv1.ListRepositoriesRequest{Connection: tc.Connection})
	if !c.ok(fmt.Sprintf("listing %d repositories", len(tc.Repositories)), err) {
		return
	}
	after, err := procStatus(pid, "VmHWM", "VmRSS")
	if err != nil {
		c.Fatalf("%v", err)
	}
	if !sameIDs(l.repos, tc.Repositories) {
		c.Errorf("the large listing streamed %d distinct repositories, not the %d the backend seeded", len(firstSeen(l.repos)), len(tc.Repositories))
	}
	growth := after["VmHWM"] - before["VmRSS"]
	c.Logf("listed %d repositories in %d messages in %s: resident %d MiB before, peak %d MiB (%+d MiB), %d MiB after",
		len(l.repos), l.messages, time.Since(listing).Round(time.Millisecond), before["VmRSS"]>>20, after["VmHWM"]>>20, growth>>20, after["VmRSS"]>>20)
	if growth > c.s.cfg.MaxRSSGrowth {
		c.Errorf("the plugin's peak memory grew by %d MiB while listing %d repositories, more than the %d MiB allowed: stream page by page instead of holding the listing",
			growth>>20, len(l.repos), c.s.cfg.MaxRSSGrowth>>20)
	}
}
