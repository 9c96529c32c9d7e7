//go:build browser

package browser_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
)

// chromiumPath finds Debian's Chromium ($OORE_CHROMIUM overrides). Without
// it the test fails, in CI and locally alike, saying how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OORE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	where := "locally"
	if os.Getenv("CI") != "" {
		where = "in CI (CI is set: the browser tests must run there)"
	}
	t.Fatalf("Chromium is not installed %s. Install it with `make deps-browser` "+
		"(host-test/e2e/browser/install-chromium.sh: apt-get install chromium chromium-driver), "+
		"or point OORE_CHROMIUM at a Chromium binary.", where)
	return ""
}

// page is one headless Chromium tab with a fresh profile. Every step can
// leave a screenshot in the artifacts folder.
type page struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	shots int
}

// newPage starts Chromium for the test with flags that keep it off the
// network (the machines have none) and a fresh user data dir.
func newPage(t *testing.T, width, height int) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so a missing or broken Chromium fails here.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &page{t: t, ctx: ctx, dir: artifactsDir(t)}
}

// artifactsDir is where this test's screenshots go.
func artifactsDir(t *testing.T) string {
	base := os.Getenv("OORE_ARTIFACTS_DIR")
	if base == "" {
		base = filepath.Join(plugintest.ModuleRoot(t), "artifacts")
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	dir := filepath.Join(base, "browser", name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	return dir
}

// shot saves a full-page screenshot as NN-name.png and logs its path.
func (p *page) shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p.shots++
	path := filepath.Join(p.dir, fmt.Sprintf("%02d-%s.png", p.shots, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p.t.Logf("screenshot: %s", path)
}

// do runs actions; on failure it saves a screenshot and the page's text and
// fails the test.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

func (p *page) fail(what string, err error) {
	p.t.Helper()
	p.shot("failed-" + regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(what), "-"))
	body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	loc, _ := chromedp.Run(p.ctx, chromedp.Location())
	p.t.Fatalf("%s: %v\nat %s, the page says:\n%s", what, err, loc, body)
}

// text is the visible text of the first element matching sel.
func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.fail("read text of "+sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// value is the value of the input matching sel.
func (p *page) value(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.fail("read value of "+sel, err)
	}
	return s
}

func (p *page) location() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.fail("read location", err)
	}
	return s
}

// eval runs a JavaScript expression and returns its value.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fail("evaluate "+expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true, or fails the test
// after 30 s: used after clicks that navigate. An evaluation that fails
// because the page is being replaced is retried at the next tick.
func (p *page) waitFor(what, predicate string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](predicate))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = fmt.Errorf("%s is still false", predicate)
			}
			p.fail("wait for "+what, last)
		case <-tick.C:
		}
	}
}

// waitPath waits until the page is at path (and the query, if given)
// and its document has loaded.
func (p *page) waitPath(pathPrefix string) {
	p.t.Helper()
	p.waitFor("page "+pathPrefix, fmt.Sprintf(
		`(location.pathname + location.search).startsWith(%q) && document.readyState === "complete"`, pathPrefix))
}
