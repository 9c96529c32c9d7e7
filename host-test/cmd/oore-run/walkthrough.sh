# 1. Connect GitLab with the personal token; its projects are synced.
curl -s -X POST $OORE/v1/integrations/gitlab/start \
  -H "Authorization: Bearer $OORE_TOKEN" \
  -d "{\"host_url\":\"$GITLAB_URL\",\"auth_mode\":\"personal_token\",\"access_token\":\"$GITLAB_TOKEN\"}"
INTEGRATION=$(curl -s $OORE/v1/integrations -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"id":"\([^"]*\)".*/\1/')

# 2. Find the private demo repository.
REPO=$(curl -s "$OORE/v1/integrations/$INTEGRATION/repositories?q=flutter-app" -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"repositories":\[{"id":"\([^"]*\)".*/\1/')

# 3. Get the repository's webhook secret (shown once).
SECRET=$(curl -s -X POST $OORE/v1/integration-repositories/$REPO/gitlab-webhook-secret \
  -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"webhook_secret":"\([^"]*\)".*/\1/')

# 4. Make the simulator push a commit and deliver the push, as GitLab would.
curl -s -X POST $GITLAB_URL/-/sim/webhooks -d "{\"project\":\"oore-demo/mobile/flutter-app\",\"kind\":\"push\",\"url\":\"$OORE/v1/webhooks/gitlab\",\"secret_token\":\"$SECRET\"}"

# 5. The delivery and the build it triggered.
DELIVERY=$(curl -s $OORE/v1/webhook-deliveries -H "Authorization: Bearer $OORE_TOKEN" | sed 's/.*"deliveries":\[{"id":"\([^"]*\)".*/\1/')

# 6. Mint a job for that build: a job token (1 hour) and a clone URL on the host's checkout proxy.
JOB=$(curl -s -X POST $OORE/v1/webhook-deliveries/$DELIVERY/jobs -H "Authorization: Bearer $OORE_TOKEN")
JOB_TOKEN=$(echo "$JOB" | sed 's/.*"token":"\([^"]*\)".*/\1/')
CLONE_URL=$(echo "$JOB" | sed 's/.*"clone_url":"\([^"]*\)".*/\1/')
SHA=$(echo "$JOB" | sed 's/.*"sha":"\([^"]*\)".*/\1/')

# 7. Clone as a runner would: with the job token only (the GitLab token never leaves the host).
git -c http.extraHeader="Authorization: Bearer $JOB_TOKEN" clone "$CLONE_URL" flutter-app
git -C flutter-app checkout --detach "$SHA"
git -C flutter-app log -1 --format='checked out %H'
