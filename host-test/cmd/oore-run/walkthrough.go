package main

import (
	_ "embed"
	"strings"
	"text/template"
)

// walkthroughSteps are the README's walkthrough commands (a test keeps the
// README's copy equal to this file, and host-test/e2e/clone runs them).
//
//go:embed walkthrough.sh
var walkthroughSteps string

var walkthroughTemplate = template.Must(template.New("walkthrough").Parse(`
================================================================================
 Oore reference host + GitLab SIMULATOR are running (Ctrl-C stops both)
================================================================================
 Oore host        {{.Host}}
 GitLab SIMULATOR {{.Sim}}   (a test double of GitLab, not GitLab)

 Owner API token  {{.Owner}}
 Demo GitLab token (user "demo", scopes api read_repository)
                  {{.Token}}

Copy and paste (bash):

  export OORE={{.Host}} OORE_TOKEN={{.Owner}}
  export GITLAB_URL={{.Sim}} GITLAB_TOKEN={{.Token}}

{{.Steps}}
 OAuth instead: POST /v1/integrations/gitlab/start with
   {"host_url":"$GITLAB_URL","auth_mode":"oauth_app","client_id":"{{.ClientID}}","client_secret":"{{.ClientSecret}}"}
 (the simulator's demo OAuth application), then
 POST /v1/integrations/gitlab/authorize {"integration_id":"…","redirect_url":"{{.Host}}/"} and open the authorize_url.

 Browser: {{.Host}}/ui/ (sign in with the owner token)
 Metrics: {{.Host}}/metrics   Health: {{.Host}}/healthz
================================================================================
`))

// walkthrough is what oore-run prints once both servers are healthy.
func walkthrough(hostURL, simURL, owner string, simEnv map[string]string) string {
	var b strings.Builder
	_ = walkthroughTemplate.Execute(&b, map[string]string{
		"Steps": indent(walkthroughSteps, "  "), "Host": hostURL, "Sim": simURL, "Owner": owner, "Token": simEnv["GITLAB_TOKEN"], "ClientID": simEnv["GITLAB_OAUTH_CLIENT_ID"], "ClientSecret": simEnv["GITLAB_OAUTH_CLIENT_SECRET"],
	})
	return b.String()
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}
