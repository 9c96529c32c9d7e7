package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
)

// stopTimeout is how long a child gets to stop after SIGTERM before its
// process group is killed.
const stopTimeout = 15 * time.Second

// child is a started subprocess.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

func start(name string, cmd *exec.Cmd) (*child, error) {
	// Own process group: a Ctrl-C reaches oore-run, which stops the children
	// in order; a stuck child's whole group (its plugin too) can be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	return c, nil
}

// stop asks the child to stop (SIGTERM), then kills its process group.
func (c *child) stop(stderr io.Writer) {
	pid := c.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		fmt.Fprintf(stderr, "oore-run: %s did not stop; killing its process group\n", c.name)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-c.done
	}
	// Anything left in the group (a plugin whose host died) goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	hostBin, simBin := filepath.Join(c.binDir, "oore-host"), filepath.Join(c.binDir, "oore-gitlab-sim")
	for _, b := range []string{hostBin, simBin, filepath.Join(c.pluginsDir, "gitlab", "manifest.json")} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s is missing; run `make build` first", b)
		}
	}
	dataDir := c.dataDir
	if dataDir == "" {
		dataDir, err = os.MkdirTemp("", "oore-run-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
	}

	// 1. The simulator prints its demo credentials as KEY=value lines.
	simCmd := exec.Command(simBin, "--listen", c.simAddr, "--print-env")
	simCmd.Stderr = prefixed(stderr, "[gitlab-sim] ")
	simOut, err := simCmd.StdoutPipe()
	if err != nil {
		return err
	}
	sim, err := start("oore-gitlab-sim", simCmd)
	if err != nil {
		return err
	}
	defer sim.stop(stderr)
	simEnv, err := readEnv(ctx, simOut, sim)
	if err != nil {
		return err
	}
	go func() { _, _ = io.Copy(prefixed(stdout, "[gitlab-sim] "), simOut) }()
	simURL := simEnv["GITLAB_URL"]
	if err := waitHealthy(ctx, simURL+"/-/sim/state", sim); err != nil {
		return err
	}

	// 2. The host, with an owner token handed in as OORE_BOOTSTRAP_TOKEN.
	owner := secrets.RandomToken("oore_", 32)
	hostURL := "http://" + c.hostAddr
	hostCmd := exec.Command(hostBin, "serve", "--listen", c.hostAddr, "--public-url", hostURL,
		"--data-dir", dataDir, "--plugins-dir", c.pluginsDir)
	hostCmd.Env = append(os.Environ(), "OORE_BOOTSTRAP_TOKEN="+owner)
	hostCmd.Stdout = prefixed(stdout, "[oore-host] ")
	hostCmd.Stderr = prefixed(stderr, "[oore-host] ")
	hst, err := start("oore-host", hostCmd)
	if err != nil {
		return err
	}
	defer hst.stop(stderr)
	if err := waitHealthy(ctx, hostURL+"/healthz", hst); err != nil {
		return err
	}

	fmt.Fprint(stdout, walkthrough(hostURL, simURL, owner, simEnv))
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\noore-run: stopping the host and the simulator…")
		return nil
	case err := <-hst.done:
		hst.done <- err
		return fmt.Errorf("oore-host exited: %v", err)
	case err := <-sim.done:
		sim.done <- err
		return fmt.Errorf("oore-gitlab-sim exited: %v", err)
	}
}

// readEnv reads KEY=value lines until GITLAB_OAUTH_REDIRECT_URI (the last).
func readEnv(ctx context.Context, r io.Reader, c *child) (map[string]string, error) {
	env := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("%s ended its output early", c.name)
			}
			k, v, found := strings.Cut(l, "=")
			if found {
				env[k] = v
			}
			if k == "GITLAB_OAUTH_REDIRECT_URI" {
				return env, nil
			}
		case err := <-c.done:
			c.done <- err
			return nil, fmt.Errorf("%s exited: %v", c.name, err)
		case <-timeout:
			return nil, fmt.Errorf("%s printed no credentials within 30s", c.name)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitHealthy polls url until it answers 200.
func waitHealthy(ctx context.Context, url string, c *child) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("%s exited before it was healthy: %v", c.name, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy at %s after 30s", c.name, url)
		}
	}
}

// prefixed writes each line with a prefix.
func prefixed(w io.Writer, prefix string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(w, prefix+sc.Text())
		}
	}()
	return pw
}
