package main

import (
	"strings"
	"text/template"
)

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

  # 1. Connect GitLab with the personal token; its projects are synced.
  curl -s -X POST $OORE/v1/integrations/gitlab/start \
    -H "Authorization: Bearer $OORE_TOKEN" \
    -d "{\"host_url\":\"$GITLAB_URL\",\"auth_mode\":\"personal_token\",\"access_token\":\"$GITLAB_TOKEN\"}"
  INTEGRATION=$(curl -s $OORE/v1/integrations -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"id":"\([^"]*\)".*/\1/')

  # 2. List the repositories.
  curl -s "$OORE/v1/integrations/$INTEGRATION/repositories?q=flutter" -H "Authorization: Bearer $OORE_TOKEN"
  REPO=$(curl -s "$OORE/v1/integrations/$INTEGRATION/repositories?q=flutter-app" -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"repositories":\[{"id":"\([^"]*\)".*/\1/')

  # 3. Get the repository's webhook secret (shown once).
  SECRET=$(curl -s -X POST $OORE/v1/integration-repositories/$REPO/gitlab-webhook-secret \
    -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"webhook_secret":"\([^"]*\)".*/\1/')

  # 4. Make the simulator send a push, as GitLab would.
  curl -s -X POST $GITLAB_URL/-/sim/webhooks -d "{\"project\":\"oore-demo/mobile/flutter-app\",\"kind\":\"push\",\"url\":\"$OORE/v1/webhooks/gitlab\",\"secret_token\":\"$SECRET\"}"

  # 5. See the delivery and the build it triggered.
  curl -s $OORE/v1/webhook-deliveries -H "Authorization: Bearer $OORE_TOKEN"

 OAuth instead: POST /v1/integrations/gitlab/start with
   {"host_url":"$GITLAB_URL","auth_mode":"oauth_app","client_id":"{{.ClientID}}","client_secret":"{{.ClientSecret}}"}
 (the simulator's demo OAuth application), then
 POST /v1/integrations/gitlab/authorize {"integration_id":"…","redirect_url":"{{.Host}}/"} and open the authorize_url.

 Metrics: {{.Host}}/metrics   Health: {{.Host}}/healthz
================================================================================
`))

// walkthrough is what oore-run prints once both servers are healthy.
func walkthrough(hostURL, simURL, owner string, simEnv map[string]string) string {
	var b strings.Builder
	_ = walkthroughTemplate.Execute(&b, map[string]string{
		"Host": hostURL, "Sim": simURL, "Owner": owner, "Token": simEnv["GITLAB_TOKEN"], "ClientID": simEnv["GITLAB_OAUTH_CLIENT_ID"], "ClientSecret": simEnv["GITLAB_OAUTH_CLIENT_SECRET"],
	})
	return b.String()
}
