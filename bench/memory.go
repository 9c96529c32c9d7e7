package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// memory measures goal 7: a fresh plugin's resident memory after it
// received rssCalls 20-commit pushes from 8 concurrent callers the way a
// host's intake sends them (receive calls over one session holding the
// secret), and the size of its binary.
func (r *run) memory(ctx context.Context) error {
	hooks, err := pushWebhooks(ctx, 20)
	if err != nil {
		return err
	}
	plug, err := launcher.Launch(ctx, r.bins.plugin, launcher.Options{ChecksumCache: launcher.NewChecksumCache(), Env: r.cfg.PluginEnv})
	if err != nil {
		return err
	}
	defer plug.Close()
	pid := plug.Pid()
	idle, _, err := procMemory(pid)
	if err != nil {
		return err
	}
	// As a host's intake: the session learns the repository's secret with
	// one verify call and a secret_ref, then every delivery is one receive
	// call that identifies and verifies it.
	sess := webhooksession.NewClient(plug.Provider())
	defer func() { _ = sess.Close() }()
	if err := learnSecret(ctx, sess, hooks[20], nil); err != nil {
		return err
	}
	receive := receiveOp(ctx, sess, hooks[20])
	if err := receive(); err != nil {
		if receiveRefused(err) {
			return errReceiveNotServed
		}
		return err
	}
	if err := callConcurrently(r.sz.concurrency, r.sz.rssCalls, receive); err != nil {
		return fmt.Errorf("receive %d webhooks: %w", r.sz.rssCalls, err)
	}
	rss, peak, err := procMemory(pid)
	if err != nil {
		return err
	}
	bin, err := os.Stat(r.bins.plugin.ExecutablePath())
	if err != nil {
		return err
	}
	peer, err := os.Stat(r.bins.peer)
	if err != nil {
		return err
	}
	r.report.add(secMemory,
		Figure{Name: "plugin_rss_idle_mb", Value: idle, Unit: "MB", Label: "plugin RSS right after launch"},
		Figure{Name: "plugin_rss_mb", Value: rss, Unit: "MB", Label: fmt.Sprintf("plugin RSS after %d webhooks", r.sz.rssCalls), Goal: &Goal{AtMost: true, Bound: 25}, Note: fmt.Sprintf("push20 received (identify + verify in one call) over WebhookSession from %d callers; VmRSS, MiB", r.sz.concurrency)},
		Figure{Name: "plugin_rss_peak_mb", Value: peak, Unit: "MB", Label: "plugin peak RSS (VmHWM)"},
		Figure{Name: "plugin_binary_mb", Value: float64(bin.Size()) / (1 << 20), Unit: "MB", Label: "plugin binary size", Note: "go build -trimpath, as make build; MiB"},
		Figure{Name: "peer_binary_mb", Value: float64(peer.Size()) / (1 << 20), Unit: "MB", Label: "peer plugin binary size"},
	)
	return nil
}

// callConcurrently makes total calls of fn from n goroutines.
func callConcurrently(n, total int, fn func() error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range n {
		calls := total / n
		if w < total%n {
			calls++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// procMemory reads a process's resident set and its peak, in MiB.
func procMemory(pid int) (rss, peak float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, perr := strconv.ParseFloat(f[0], 64)
		if perr != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("process %d: no VmRSS in /proc status", pid)
	}
	return rss, peak, nil
}

// clockTicks is the kernel's USER_HZ: /proc times count in 1/100 s on Linux.
const clockTicks = 100

// procCPU is the CPU time (user + system) a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	// Fields after the command (which may hold spaces) start after ")".
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("process %d: unexpected /proc stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("process %d: unexpected /proc stat times", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
