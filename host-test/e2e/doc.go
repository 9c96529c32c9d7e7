// Package e2e tests the reference host end to end through real processes:
// the oore-host binary (or the host library in-process) with the REAL GitLab
// plugin as a subprocess, and the GitLab simulator standing in for GitLab.
// Every answer is checked against Oore's OpenAPI contract. The binaries are
// built once, in TestMain.
package e2e
