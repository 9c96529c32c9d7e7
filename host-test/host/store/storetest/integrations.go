package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// testAPITokens: a token created on one host authenticates on another; a
// duplicate is a conflict; bootstrap tokens are idempotent.
func testAPITokens(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	h := sha256.Sum256([]byte("oore_secret"))
	if err := a.CreateAPIToken(ctx(t), store.APIToken{Name: "ci", Role: "developer", Hash: h[:]}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateAPIToken(ctx(t), store.APIToken{Name: "again", Role: "owner", Hash: h[:]}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the same hash created on another host: %v, want ErrConflict", err)
	}
	got, err := b.APITokenByHash(ctx(t), h[:])
	if err != nil || got.Role != "developer" || got.Name != "ci" || got.CreatedAt != startTime {
		t.Fatalf("APITokenByHash on the other host = %+v, %v", got, err)
	}
	other := sha256.Sum256([]byte("other"))
	if _, err := a.APITokenByHash(ctx(t), other[:]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: %v, want ErrNotFound", err)
	}
	boot := sha256.Sum256([]byte("bootstrap"))
	for _, s := range []*store.SQL{a, b, a} {
		if err := s.EnsureAPIToken(ctx(t), store.APIToken{Name: "bootstrap", Role: "owner", Hash: boot[:]}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, a, `SELECT COUNT(*) FROM api_tokens`); n != 2 {
		t.Fatalf("api_tokens rows = %d, want 2", n)
	}
}

// testIntegrationLifecycle: what one host writes, the others read at once.
func testIntegrationLifecycle(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	in := store.Integration{ID: "i1", Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "oauth_app",
		Status: store.StatusInactive, CreatedBy: "tok-owner"}
	if err := a.CreateIntegration(ctx(t), in, store.Credentials{ClientID: "cid", ClientSecret: "gloas-secret"}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateIntegration(ctx(t), in, store.Credentials{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the same id created on another host: %v, want ErrConflict", err)
	}
	creds, v1, err := b.LoadCredentials(ctx(t), "i1")
	if err != nil || creds.ClientSecret != "gloas-secret" || creds.ClientID != "cid" {
		t.Fatalf("LoadCredentials on the other host = %+v, %v", creds, err)
	}
	err = b.ConnectIntegration(ctx(t), "i1", store.Connection{HostURL: "https://gitlab.example.com", DisplayName: "bob @ gitlab.example.com",
		AccountID: "7", AccountUsername: "bob", Scopes: []string{"read_api", "read_repository"},
		Credentials: store.Credentials{AccessToken: "at", RefreshToken: "rt", ExpiresAt: startTime + 7200, ClientID: "cid", ClientSecret: "gloas-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.GetIntegration(ctx(t), "i1")
	if err != nil {
		t.Fatal(err)
	}
	want := store.Integration{ID: "i1", Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "oauth_app",
		Status: store.StatusActive, DisplayName: "bob @ gitlab.example.com", CreatedBy: "tok-owner", AccountID: "7", AccountUsername: "bob",
		Scopes: []string{"read_api", "read_repository"}, TokenExpiresAt: startTime + 7200, CreatedAt: startTime, UpdatedAt: startTime}
	if diff := diffIntegration(got, want); diff != "" {
		t.Fatalf("after connect on the other host: %s", diff)
	}
	creds, v2, err := a.LoadCredentials(ctx(t), "i1")
	if err != nil || creds.AccessToken != "at" || creds.RefreshToken != "rt" || v2 <= v1 {
		t.Fatalf("credentials after connect = %+v v%d (was v%d), %v", creds, v2, v1, err)
	}
	if err := a.SetIntegrationStatus(ctx(t), "i1", store.StatusError, "token rejected by GitLab"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetIntegration(ctx(t), "i1"); got.Status != store.StatusError || got.StatusReason != "token rejected by GitLab" {
		t.Fatalf("status on the other host: %+v", got)
	}
	if err := a.SetIntegrationStatus(ctx(t), "nope", store.StatusError, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("status of an unknown integration: %v", err)
	}
	if err := b.ConnectIntegration(ctx(t), "nope", store.Connection{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("connect an unknown integration: %v", err)
	}
	if _, _, err := b.LoadCredentials(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("credentials of an unknown integration: %v", err)
	}
	if _, err := b.GetIntegration(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown integration: %v", err)
	}
}

func diffIntegration(got, want store.Integration) string {
	g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want)
	if g == w {
		return ""
	}
	return "\n got " + g + "\nwant " + w
}

// testListIntegrations: filters, search (LIKE wildcards are literal), sort
// columns and paging agree on every backend.
func testListIntegrations(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	names := []string{"beta", "Alpha", "gamma_1", "100% delta", "epsilon"}
	for i, name := range names {
		in := store.Integration{ID: fmt.Sprintf("i%d", i), Provider: "gitlab", HostURL: fmt.Sprintf("https://h%d.example.com", i),
			AuthMode: "personal_token", Status: store.StatusActive, DisplayName: name, CreatedBy: "t", AccountUsername: "user" + name,
			CreatedAt: startTime + int64(i)}
		if i%2 == 1 {
			in.Status = store.StatusInactive
		}
		if i == 4 {
			in.Provider = "gitea"
		}
		if err := a.CreateIntegration(ctx(t), in, store.Credentials{AccessToken: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(p store.IntegrationPage) string {
		var out []string
		for _, in := range p.Integrations {
			out = append(out, in.ID)
		}
		return strings.Join(out, ",")
	}
	tests := map[string]struct {
		q                store.IntegrationQuery
		want             string
		total, activeTot int64
	}{
		"all, oldest first":          {q: store.IntegrationQuery{Limit: 10}, want: "i0,i1,i2,i3,i4", total: 5, activeTot: 3},
		"newest first":               {q: store.IntegrationQuery{Desc: true, Limit: 10}, want: "i4,i3,i2,i1,i0", total: 5, activeTot: 3},
		"page":                       {q: store.IntegrationQuery{Limit: 2, Offset: 2}, want: "i2,i3", total: 5, activeTot: 3},
		"provider":                   {q: store.IntegrationQuery{Provider: "gitlab", Limit: 10}, want: "i0,i1,i2,i3", total: 4, activeTot: 2},
		"by display name":            {q: store.IntegrationQuery{Sort: "display_name", Limit: 10}, want: "i3,i1,i0,i4,i2", total: 5, activeTot: 3},
		"search is case-insensitive": {q: store.IntegrationQuery{Q: "ALPHA", Limit: 10}, want: "i1", total: 1, activeTot: 0},
		"search by host":             {q: store.IntegrationQuery{Q: "h4.example", Limit: 10}, want: "i4", total: 1, activeTot: 1},
		"percent is literal":         {q: store.IntegrationQuery{Q: "l%a", Limit: 10}, want: "", total: 0, activeTot: 0},
		"underscore is literal":      {q: store.IntegrationQuery{Q: "_1", Limit: 10}, want: "i2", total: 1, activeTot: 1},
		"wildcards match nothing":    {q: store.IntegrationQuery{Q: "%_", Limit: 10}, want: "", total: 0, activeTot: 0},
		"backslash is literal":       {q: store.IntegrationQuery{Q: `\`, Limit: 10}, want: "", total: 0, activeTot: 0},
	}
	for name, tc := range tests {
		p, err := b.ListIntegrations(ctx(t), tc.q)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := ids(p); got != tc.want || p.Total != tc.total || p.ActiveTotal != tc.activeTot {
			t.Errorf("%s: got [%s] total %d active %d; want [%s] total %d active %d", name, got, p.Total, p.ActiveTotal, tc.want, tc.total, tc.activeTot)
		}
	}
	if _, err := b.ListIntegrations(ctx(t), store.IntegrationQuery{Sort: "id; DROP TABLE integrations", Limit: 10}); err == nil {
		t.Fatal("unknown sort column accepted")
	}
}

// testValuesRoundTrip: every kind of value comes back as it went in: times
// past 2038 and past 2^32, booleans both ways, empty and non-ASCII text,
// large sealed blobs.
func testValuesRoundTrip(t *testing.T, e *env) {
	a, b := e.host(t), e.host(t)
	const far = int64(1) << 40
	big := strings.Repeat("x", 64<<10)
	in := store.Integration{ID: "i-ünïcode", Provider: "gitlab", HostURL: "https://gitlab.example.com", AuthMode: "oauth_app",
		Status: store.StatusActive, DisplayName: "Zoë's GitLab — 東京 🚀", CreatedBy: "t", AccountID: "", AccountUsername: "zoë",
		TokenExpiresAt: far, CreatedAt: far - 1, UpdatedAt: far}
	creds := store.Credentials{AccessToken: big, RefreshToken: "rt", ExpiresAt: far, ClientSecret: "s\x00'\"`;--"}
	if err := a.CreateIntegration(ctx(t), in, creds); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetIntegration(ctx(t), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	in.Scopes = nil
	if diff := diffIntegration(got, in); diff != "" {
		t.Fatalf("integration round trip: %s", diff)
	}
	gotCreds, _, err := b.LoadCredentials(ctx(t), in.ID)
	if err != nil || gotCreds != creds {
		t.Fatalf("credentials round trip differ (%v)", err)
	}
	if err := b.MarkReconnectRequired(ctx(t), in.ID, "refresh token refused"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetIntegration(ctx(t), in.ID); !got.ReconnectRequired || got.Status != store.StatusError {
		t.Fatalf("reconnect_required true did not round trip: %+v", got)
	}

	list := repositories(t, a, in.ID, 1, 2)
	if !list[1].Private || list[0].Private {
		t.Fatalf("is_private did not round trip: %v, %v", list[0].Private, list[1].Private)
	}
	d := store.Delivery{Provider: "gitlab", DeliveryID: "d-ü", IntegrationID: in.ID, RepositoryID: list[0].ID,
		RepositoryFullName: list[0].FullName, EventKind: "merge_request", EventName: "Merge Request Hook",
		Events: `{"k":"ü"}`, ReceivedAt: far}
	trig := store.BuildTrigger{Kind: "merge_request", Ref: "refs/merge-requests/1/head", Branch: "feature/ü", SHA: strings.Repeat("a", 40),
		MergeRequestNumber: far}
	if _, err := a.RecordDelivery(ctx(t), d, []store.BuildTrigger{trig}); err != nil {
		t.Fatal(err)
	}
	ds, total, err := b.ListDeliveries(ctx(t), store.DeliveryQuery{Limit: 5})
	if err != nil || total != 1 || len(ds) != 1 || len(ds[0].Triggers) != 1 {
		t.Fatalf("ListDeliveries = %+v, %d, %v", ds, total, err)
	}
	gd, gt := ds[0], ds[0].Triggers[0]
	if gd.ReceivedAt != far || !gd.Triggered || gd.Events != d.Events || gd.DeliveryID != d.DeliveryID || gd.EventName != d.EventName {
		t.Fatalf("delivery round trip: %+v", gd)
	}
	if gt.MergeRequestNumber != far || gt.Branch != trig.Branch || gt.SHA != trig.SHA || gt.Status != store.TriggerQueued || gt.CreatedAt != far {
		t.Fatalf("trigger round trip: %+v", gt)
	}
	if got, _ := b.GetIntegration(ctx(t), in.ID); got.LastWebhookAt != far {
		t.Fatalf("last_webhook_at = %d, want %d", got.LastWebhookAt, far)
	}
}
