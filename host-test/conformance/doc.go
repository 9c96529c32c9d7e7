// Package conformance is the conformance suite every Oore SCM provider
// plugin runs: it launches the real plugin binary the way a host does and
// checks, call by call, that the plugin keeps the scm.v1 contract. Oore core
// trusts any provider that passes it.
//
// A provider author calls it from a test, with a Backend over their own
// simulator or test instance of the SCM:
//
//	func TestConformance(t *testing.T) {
//		dir := t.TempDir()
//		plugintest.Build(t, dir, "./cmd/oore-scm-example", "manifests/example.json")
//		cfg := conformance.NewConfig(filepath.Join(dir, "manifest.json"), mybackend.New(t))
//		conformance.Run(t, cfg)
//	}
//
// or runs the CLI, host-test/cmd/oore-conformance, which prints one line
// per case.
//
// Every case is a subtest named group/case (launch/…, validate_connection/…,
// list_repositories/…, webhooks/…, webhook_session/…, robustness/…). The
// webhook_session cases drive real WebhookSession streams one call at a
// time, so each receive sees exactly what the verify calls before it left in
// that session. A case for a capability
// the provider does not announce is skipped, and the skip says so; so is a
// case whose fixture the Backend cannot provide (ErrUnsupported). Errors
// are checked by exact gRPC code, with the contract's ErrorInfo and
// BadRequest details, and every error message, response and plugin log line
// is searched for the secrets the suite handed the plugin. Resources the
// suite creates at the SCM (project webhooks) are deleted when the case ends.
//
// robustness/exits-when-host-dies re-executes the running binary (the test
// binary, or the CLI) with OORE_CONFORMANCE_HELPER_HOST set to the manifest:
// this package's init turns such a process into a helper host that launches
// the plugin and waits to be killed, so callers need no TestMain.
//
// What it is not: a test of the SCM or of the Backend, nor a load test. It
// checks behaviour a host relies on, with small fixtures, in well under a
// minute.
package conformance
