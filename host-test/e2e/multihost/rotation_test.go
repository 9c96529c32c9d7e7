package multihost

import (
	"context"
	"net/http"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// TestSecretRotationRefusedEverywhereAtOnce: a webhook secret rotated on one
// host is refused by every other host on the very next delivery, and the new
// one is accepted there, rotation after rotation.
func TestSecretRotationRefusedEverywhereAtOnce(t *testing.T) {
	t.Parallel()
	c := newPostgresCluster(t, 3)
	ctx := context.Background()
	id := c.startPAT(c.hosts[0])
	app := c.repository(c.hosts[0], id, "oore-demo/mobile/flutter-app")
	secret := c.webhookSecret(c.hosts[0], app.ID)
	for _, h := range c.hosts {
		if res, err := c.send(ctx, h, gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, SecretToken: secret}); err != nil || res.Status != http.StatusOK {
			t.Fatalf("first secret on %s: %v %+v", h.Name, err, res)
		}
	}
	used := map[string]string{"owner token": c.owner, "GitLab token": c.demo.Token, "secret 0": secret}
	for round := range 3 {
		rotator := c.host(round)
		old := secret
		secret = c.webhookSecret(rotator, app.ID)
		used["secret "+string(rune('1'+round))] = secret
		for i := 1; i < len(c.hosts); i++ {
			h := c.host(round + i)
			res, err := c.send(ctx, h, gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, SecretToken: old})
			if err != nil || res.Status != http.StatusUnauthorized {
				t.Fatalf("round %d: the secret %s replaced was answered %v %+v by %s, want 401", round, rotator.Name, err, res, h.Name)
			}
			res, err = c.send(ctx, h, gitlabsim.WebhookSpec{ProjectID: c.demo.FlutterApp.ID, SecretToken: secret})
			if ok, _ := webhookAnswer(res); err != nil || !ok {
				t.Fatalf("round %d: the new secret from %s was answered %v %+v by %s", round, rotator.Name, err, res, h.Name)
			}
		}
	}
	c.assertNoSecretInLogs(used)
}
