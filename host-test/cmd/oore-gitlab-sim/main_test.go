package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
)

func start(t *testing.T, args ...string) (string, map[string]string, *e2ekit.Logs) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr e2ekit.Logs
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr, ready) }()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run ended: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("simulator did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return base, env, &stderr
}

func TestCommandServesTheDemoAndPrintsItsCredentials(t *testing.T) {
	base, env, stderr := start(t, "--listen", "127.0.0.1:0", "--print-env", "--projects", "30")
	if env["GITLAB_URL"] != base || !strings.HasPrefix(env["GITLAB_TOKEN"], "glpat-") ||
		len(env["GITLAB_OAUTH_CLIENT_ID"]) != 64 || !strings.HasPrefix(env["GITLAB_OAUTH_CLIENT_SECRET"], "gloas-") {
		t.Fatalf("env = %v", env)
	}
	req, _ := http.NewRequest("GET", base+"/api/v4/projects?membership=true&per_page=100", nil)
	req.Header.Set("PRIVATE-TOKEN", env["GITLAB_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var projects []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&projects); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Simulator") != "oore-gitlab-sim" || len(projects) != 35 {
		t.Errorf("X-Simulator %q, %d projects", resp.Header.Get("X-Simulator"), len(projects))
	}
	logs := stderr.String()
	if !strings.HasPrefix(logs, banner) {
		t.Errorf("no banner: %q", logs)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n")[1:] {
		if !strings.Contains(line, "SIMULATOR") {
			t.Errorf("log line without the SIMULATOR label: %q", line)
		}
	}
	if strings.Contains(logs, env["GITLAB_TOKEN"]) || strings.Contains(logs, env["GITLAB_OAUTH_CLIENT_SECRET"]) {
		t.Error("a secret was logged")
	}
}

func TestCommandAdminAPISendsAWebhook(t *testing.T) {
	got := make(chan http.Header, 1)
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Header.Clone()
	})}
	ln := listenLocal(t)
	go func() { _ = recv.Serve(ln) }()
	t.Cleanup(func() { _ = recv.Close() })

	base, _, _ := start(t, "--listen", "127.0.0.1:0")
	body := `{"project":"oore-demo/mobile/flutter-app","kind":"push","url":"http://` + ln.Addr().String() + `/hook","secret_token":"s3"}`
	resp, err := http.Post(base+"/-/sim/webhooks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out["status"] != float64(200) {
		t.Fatalf("admin webhook answer: %v", out)
	}
	h := <-got
	if h.Get("X-Gitlab-Event") != "Push Hook" || h.Get("X-Gitlab-Token") != "s3" {
		t.Errorf("delivered headers: %v", h)
	}
	if sent := out["request_headers"].(map[string]any); sent["X-Gitlab-Token"] != "[REDACTED]" {
		t.Errorf("the admin API showed the secret: %v", sent)
	}
}

func TestCommandServesTLSWithItsCA(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	base, env, _ := start(t, "--listen", "127.0.0.1:0", "--tls", "--ca-out", caFile, "--print-env", "--seed", "demo")
	if !strings.HasPrefix(base, "https://") || env["GITLAB_CA_FILE"] != caFile {
		t.Fatalf("base %s env %v", base, env)
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CA file holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(base + "/-/sim/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("state: %d", resp.StatusCode)
	}
	if _, err := http.Get(base + "/-/sim/state"); err == nil {
		t.Error("a client without the CA trusted the simulator")
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	var stderr e2ekit.Logs
	if err := run(context.Background(), []string{"--seed", "everything"}, io.Discard, &stderr, nil); err == nil {
		t.Error("bad --seed accepted")
	}
	if err := run(context.Background(), []string{"--seed", "none", "--projects", "3"}, io.Discard, &stderr, nil); err == nil {
		t.Error("--projects without the demo accepted")
	}
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
