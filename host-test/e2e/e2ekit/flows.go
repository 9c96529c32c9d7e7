package e2ekit

import "net/http"

// StartPAT connects a GitLab user with a personal access token (POST
// /v1/integrations/gitlab/start as ownerToken) and returns the integration's
// id; it fails the test unless the answer is 200 with an active
// integration. Test goroutine only.
func (c *Client) StartPAT(ownerToken, gitlabURL, accessToken string) string {
	c.T.Helper()
	r := c.Do("POST", "/v1/integrations/gitlab/start", ownerToken, map[string]any{"host_url": gitlabURL, "auth_mode": "personal_token", "access_token": accessToken})
	if r.Status != http.StatusOK {
		c.T.Fatalf("start on %s: %d %s", c.Base, r.Status, r.Body)
	}
	var out struct {
		Integration struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"integration"`
	}
	r.Decode(c.T, &out)
	if out.Integration.Status != "active" {
		c.T.Fatalf("personal-token integration is %q, want active", out.Integration.Status)
	}
	return out.Integration.ID
}

// Repository is a repository of an integration, as the host lists it.
type Repository struct {
	ID         string `json:"id"`
	ExternalID string `json:"external_id"`
	FullName   string `json:"full_name"`
}

// FindRepository finds an integration's repository by full name among the
// first 100 the host lists, or fails the test. Test goroutine only.
func (c *Client) FindRepository(ownerToken, integrationID, fullName string) Repository {
	c.T.Helper()
	r := c.Do("GET", "/v1/integrations/"+integrationID+"/repositories?limit=100", ownerToken, nil)
	var out struct {
		Repositories []Repository `json:"repositories"`
	}
	r.Decode(c.T, &out)
	for _, rp := range out.Repositories {
		if rp.FullName == fullName {
			return rp
		}
	}
	c.T.Fatalf("repository %s not listed on %s: %s", fullName, c.Base, r.Body)
	return Repository{}
}

// WebhookSecret makes (or rotates) a repository's GitLab webhook secret
// (query, e.g. "?force=true", is appended to the path) and returns the
// secret and the webhook URL the host answered; it fails the test unless
// the answer is 200. Test goroutine only.
func (c *Client) WebhookSecret(ownerToken, repositoryID, query string) (secret, webhookURL string) {
	c.T.Helper()
	r := c.Do("POST", "/v1/integration-repositories/"+repositoryID+"/gitlab-webhook-secret"+query, ownerToken, nil)
	if r.Status != http.StatusOK {
		c.T.Fatalf("webhook secret on %s: %d %s", c.Base, r.Status, r.Body)
	}
	var out struct {
		Secret     string `json:"webhook_secret"`
		WebhookURL string `json:"webhook_url"`
	}
	r.Decode(c.T, &out)
	return out.Secret, out.WebhookURL
}
