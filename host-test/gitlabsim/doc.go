// Package gitlabsim is a SIMULATOR of GitLab: a test double for an external
// service, not GitLab. Real GitLab cannot run on the machines this project is
// built and tested on, so the simulator serves the part of GitLab that the
// Oore GitLab provider uses, the way GitLab documents it:
//
//   - the REST API under /api/v4: the current user, personal-access-token
//     self-inspection, projects with GitLab's filters and both pagination
//     styles (offset and keyset) with their exact headers, project hooks and
//     commit statuses, with GitLab's token, scope and role rules;
//   - GitLab's OAuth 2.0 provider (Doorkeeper): authorize with PKCE, the code
//     and refresh grants with refresh-token rotation, revocation, token info;
//   - private repositories over git smart HTTP, served by the real
//     `git http-backend` behind GitLab's Basic authentication;
//   - a webhook sender that builds GitLab-shaped payloads from the embedded
//     fixtures and delivers them with GitLab's headers, the secret token and
//     the Standard Webhooks HMAC signature;
//   - faults: latency, rate limiting (429 with GitLab's RateLimit headers)
//     and injected server errors, plus request counters for assertions.
//
// Use it from Go tests with [NewTestServer] or [NewTLSTestServer], seed it
// with [Server.AddUser], [Server.AddPersonalAccessToken], [Server.AddProject]
// or [Server.SeedDemo], and point the code under test at Server.URL. The
// command host-test/cmd/oore-gitlab-sim runs it as a standalone server for
// demos. Every response carries the header "X-Simulator: oore-gitlab-sim".
//
// What it is not: a GitLab. It keeps everything in memory, knows no
// passwords, has no web UI beyond a small OAuth consent page, and implements
// only the endpoints listed above. Where GitLab's answer is uncertain, the
// file that implements the endpoint says which source it follows.
package gitlabsim
