// Package e2ekit holds the mechanics the end-to-end test packages under
// host-test/e2e share, so each of them is left with only what it tests. It
// works with real processes: it builds the oore-host binary and the GitLab
// plugin (with its sealed manifest) once per test binary ([Main]), starts
// oore-host with the flags a test gives and captures everything it logs
// ([StartHost], [Logs]), waits until a host answers its health check, and
// calls the host's API ([Client]), checking every answer against Oore's
// OpenAPI contract when the caller asks for it.
//
// It is a helper for tests, not a test package: it never fails a test on its
// own, except through the testing.TB each helper is handed.
package e2ekit
