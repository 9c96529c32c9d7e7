// Package clone tests private clones end to end: the oore-host binary with
// the real GitLab plugin as its subprocess, the GitLab simulator's real `git
// http-backend` standing in for GitLab, and the real `git` client as the
// runner. A build trigger becomes a job (POST
// /v1/webhook-deliveries/{id}/jobs); the runner clones through the host's
// checkout proxy with the job token only, and the GitLab token never leaves
// the host. The binaries are built once, in TestMain.
package clone
