// Package browser holds the browser tests of the reference host's UI: real
// headless Chromium (Debian's /usr/bin/chromium, driven over the DevTools
// protocol by chromedp) clicks through the pages of host-test/host/ui served
// by the real host, with the real GitLab plugin process, against the GitLab
// simulator, the way a person does: sign in, connect with a token, connect
// with OAuth by authorizing on the simulator's consent page, look at the
// repositories, generate a webhook secret, receive a push, see the delivery,
// delete; replace an expiring personal token (refused tokens shown at the
// field), generate a signing token and receive a push signed with it, and
// check that no token reached a page or the stack's log.
//
// The tests carry the build tag "browser" (they need Chromium and take a
// minute), so they run with `make test-browser`, which `make test` calls:
//
//	go test -tags browser ./host-test/e2e/browser/
//
// Chromium is installed by the project's own setup (`make deps-browser`,
// which runs install-chromium.sh: apt-get install chromium chromium-driver),
// never downloaded by a test tool. Without it the tests fail with that
// instruction; they never skip. Each step's screenshot is saved under
// artifacts/browser/ at the repository root (gitignored), or under
// $OORE_ARTIFACTS_DIR when set; the test log prints every path.
package browser
