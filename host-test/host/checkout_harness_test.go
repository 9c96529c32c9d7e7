package host

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
)

// The unit tests of jobs and the checkout proxy run the host's handler
// against a real SQLite store, a stand-in provider plugin that only hands
// out clone credentials, and an upstream git server that records what it
// was sent. (End-to-end tests with the real plugin, simulator and git client
// are in host-test/e2e/clone.)

// cloneOnlyProvider answers GetCloneCredentials; every other method of the
// interface is nil and must not be called.
type cloneOnlyProvider struct {
	scmv1.ProviderServiceClient
	mu       sync.Mutex
	cloneURL string
	password string
	calls    int
}

func (p *cloneOnlyProvider) GetCloneCredentials(_ context.Context, req *scmv1.GetCloneCredentialsRequest, _ ...grpc.CallOption) (*scmv1.GetCloneCredentialsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return &scmv1.GetCloneCredentialsResponse{CloneUrl: p.cloneURL, Username: "oauth2", Password: p.password}, nil
}

func (p *cloneOnlyProvider) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func (p *cloneOnlyProvider) setCloneURL(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cloneURL = u
}

// testPlugin is a Plugin around a provider client.
type testPlugin struct {
	client       scmv1.ProviderServiceClient
	capabilities []string
}

func (p testPlugin) Provider() scmv1.ProviderServiceClient { return p.client }
func (p testPlugin) Restarts() int64                       { return 0 }
func (p testPlugin) Manifest() *manifest.Manifest {
	return &manifest.Manifest{Name: "gitlab", AuthModes: []manifest.AuthMode{{Mode: "personal_token"}}, Capabilities: p.capabilities}
}

type testPlugins map[string]Plugin

func (p testPlugins) Get(name string) (Plugin, bool) { pl, ok := p[name]; return pl, ok }
func (p testPlugins) Names() []string {
	var out []string
	for n := range p {
		out = append(out, n)
	}
	return out
}

// upstreamRequest is what the upstream git server was sent.
type upstreamRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// proxyHarness is a host with one integration (its host URL the upstream's
// origin), one synced repository "group/app" and deliveries.
type proxyHarness struct {
	t        testing.TB
	h        *Host
	st       *store.SQL
	srv      *httptest.Server
	upstream *httptest.Server
	provider *cloneOnlyProvider
	owner    string
	// deliveries: one push build, two builds, none.
	oneBuild, twoBuilds, noBuilds string

	mu   sync.Mutex
	seen []upstreamRequest
	// answer answers upstream requests (default: a git advertisement or result).
	answer func(w http.ResponseWriter, r *http.Request)
}

const upstreamPassword = "glpat-upstream-secret-123"

func newProxyHarness(t testing.TB, capabilities ...string) *proxyHarness {
	t.Helper()
	if capabilities == nil {
		capabilities = []string{"clone_credentials"}
	}
	ph := &proxyHarness{t: t}
	ph.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ph.mu.Lock()
		ph.seen = append(ph.seen, upstreamRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		answer := ph.answer
		ph.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", contentTypeAdvertisement)
			_, _ = io.WriteString(w, "001e# service=git-upload-pack\n0000")
			return
		}
		w.Header().Set("Content-Type", contentTypeUploadResult)
		_, _ = w.Write(append([]byte("0008NAK\n"), body...))
	}))
	t.Cleanup(ph.upstream.Close)

	ctx := context.Background()
	dir := t.TempDir()
	kr, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, dir, kr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ph.st = st
	ph.provider = &cloneOnlyProvider{cloneURL: ph.upstream.URL + "/group/app.git", password: upstreamPassword}
	h, err := New(Config{PublicURL: "http://oore.invalid"}, st, kr, testPlugins{"gitlab": testPlugin{client: ph.provider, capabilities: capabilities}})
	if err != nil {
		t.Fatal(err)
	}
	ph.h = h
	ph.srv = httptest.NewServer(h.Handler())
	t.Cleanup(ph.srv.Close)
	ph.owner, err = CreateToken(ctx, st, RoleOwner, "owner")
	if err != nil {
		t.Fatal(err)
	}

	u, _ := url.Parse(ph.upstream.URL)
	if err := st.CreateIntegration(ctx, store.Integration{ID: "i1", Provider: "gitlab", HostURL: origin(u), AuthMode: "personal_token",
		Status: store.StatusActive, CreatedBy: "t", AccountID: "42", AccountUsername: "demo"}, store.Credentials{AccessToken: upstreamPassword}); err != nil {
		t.Fatal(err)
	}
	inst, err := st.UpsertInstallation(ctx, store.Installation{IntegrationID: "i1", ExternalID: "42", AccountName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := st.BeginRepositorySync(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertRepositories(ctx, "i1", inst.ID, gen, []store.Repository{{ExternalID: "7", FullName: "group/app", Private: true}}); err != nil {
		t.Fatal(err)
	}
	repos, _, err := st.ListRepositories(ctx, store.RepositoryQuery{IntegrationID: "i1", Limit: 1})
	if err != nil || len(repos) != 1 {
		t.Fatalf("repositories %v, %v", repos, err)
	}
	rp := repos[0]
	ph.oneBuild, ph.twoBuilds, ph.noBuilds = "d-one", "d-two", "d-none"
	for _, d := range []struct {
		id       string
		triggers []store.BuildTrigger
	}{
		{ph.oneBuild, []store.BuildTrigger{{ID: "t-1", Kind: "push", Ref: "refs/heads/main", Branch: "main", SHA: "1111111111111111111111111111111111111111"}}},
		{ph.twoBuilds, []store.BuildTrigger{{ID: "t-2a", Kind: "push", SHA: "2a"}, {ID: "t-2b", Kind: "push", SHA: "2b"}}},
		{ph.noBuilds, nil},
	} {
		if _, err := st.RecordDelivery(ctx, store.Delivery{ID: d.id, Provider: "gitlab", DeliveryID: "x-" + d.id, IntegrationID: "i1",
			RepositoryID: rp.ID, RepositoryFullName: rp.FullName, EventKind: "push"}, d.triggers); err != nil {
			t.Fatal(err)
		}
	}
	return ph
}

// upstreamRequests returns what the upstream was sent so far.
func (ph *proxyHarness) upstreamRequests() []upstreamRequest {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return append([]upstreamRequest(nil), ph.seen...)
}

func (ph *proxyHarness) setAnswer(fn func(w http.ResponseWriter, r *http.Request)) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.answer = fn
}

// testResponse is an answer of the host.
type testResponse struct {
	Status int
	Header http.Header
	Body   string
}

// do sends a request to the host.
func (ph *proxyHarness) do(method, path string, header http.Header, body io.Reader) testResponse {
	ph.t.Helper()
	req, err := http.NewRequest(method, ph.srv.URL+path, body)
	if err != nil {
		ph.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := ph.srv.Client().Do(req)
	if err != nil {
		ph.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		ph.t.Fatal(err)
	}
	return testResponse{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
}

// createJob calls POST /v1/webhook-deliveries/{id}/jobs with a token.
func (ph *proxyHarness) createJob(deliveryID, token, body string) testResponse {
	ph.t.Helper()
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
		hdr.Set("Content-Type", "application/json")
	}
	return ph.do("POST", "/v1/webhook-deliveries/"+deliveryID+"/jobs", hdr, rd)
}

// job mints a job for the one-build delivery.
func (ph *proxyHarness) job() jobResponse {
	ph.t.Helper()
	r := ph.createJob(ph.oneBuild, ph.owner, "")
	if r.Status != http.StatusCreated {
		ph.t.Fatalf("create job: %d %s", r.Status, r.Body)
	}
	var j jobResponse
	if err := json.Unmarshal([]byte(r.Body), &j); err != nil {
		ph.t.Fatal(err)
	}
	return j
}

// proxyPath is the job's clone URL on the test server.
func (ph *proxyHarness) proxyPath(j jobResponse) string {
	u, err := url.Parse(j.CloneURL)
	if err != nil {
		ph.t.Fatal(err)
	}
	return u.Path
}
