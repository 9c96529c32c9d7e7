package gitlab_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/plugintest"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// inProcess serves a provider built with opts over real gRPC (an in-memory
// listener), for tests that need provider options the binary does not take.
func inProcess(t testing.TB, opts ...gitlab.Option) scmv1.ProviderServiceClient {
	t.Helper()
	return plugintest.InMemory(t, gitlab.New(opts...))
}

// listing is what a ListRepositories stream delivered.
type listing struct {
	repos []*scmv1.Repository
	pages []int // repositories per message
}

func (l listing) ids() []int64 {
	ids := make([]int64, len(l.repos))
	for i, r := range l.repos {
		ids[i], _ = strconv.ParseInt(r.GetExternalId(), 10, 64)
	}
	return ids
}

func (l listing) byName(fullName string) *scmv1.Repository {
	for _, r := range l.repos {
		if r.GetFullName() == fullName {
			return r
		}
	}
	return nil
}

// list reads a whole stream; after is called with each message's index
// once it has arrived.
func list(ctx context.Context, p scmv1.ProviderServiceClient, req *scmv1.ListRepositoriesRequest, after func(i int)) (listing, error) {
	var l listing
	stream, err := p.ListRepositories(ctx, req)
	if err != nil {
		return l, err
	}
	for i := 0; ; i++ {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return l, nil
		}
		if err != nil {
			return l, err
		}
		l.repos = append(l.repos, msg.GetRepositories()...)
		l.pages = append(l.pages, len(msg.GetRepositories()))
		if after != nil {
			after(i)
		}
	}
}

// bulkSim has a user "bulk" with n projects, interleaved with projects of
// another user so the IDs it can see are not contiguous.
func bulkSim(t testing.TB, n int) (sim *gitlabsim.Server, token string, ids []int64) {
	t.Helper()
	sim = gitlabsim.NewTestServer(t, gitlabsim.Options{})
	u := sim.AddUser("bulk", "Bulk User")
	other := sim.AddUser("other", "Other User")
	yearOn := sim.Now().AddDate(1, 0, 0)
	token = sim.AddPersonalAccessToken(u.ID, "bulk", []string{"read_api", "read_repository"}, &yearOn, false)
	ids = append(ids, sim.SeedProjects(u.ID, n/3, "")...)
	sim.SeedProjects(other.ID, 50, "")
	ids = append(ids, sim.SeedProjects(u.ID, n-n/3, "bulk-group/sub")...)
	return sim, token, ids
}

func checkComplete(t *testing.T, got listing, want []int64, perPage int) {
	t.Helper()
	ids := got.ids()
	if !slices.IsSorted(ids) {
		t.Fatal("repositories are not in ascending ID order")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatal("a repository was sent twice")
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("got %d repositories, want %d (first missing or extra: %v)", len(ids), len(want), firstDiff(ids, want))
	}
	for i, n := range got.pages {
		if n == 0 || n > perPage {
			t.Fatalf("message %d holds %d repositories (page size %d)", i, n, perPage)
		}
	}
}

func firstDiff(a, b []int64) int64 {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return min(a[i], b[i])
		}
	}
	if len(a) > len(b) {
		return a[len(b)]
	}
	if len(b) > len(a) {
		return b[len(a)]
	}
	return 0
}

func TestListRepositoriesStrategies(t *testing.T) {
	t.Parallel()
	sim, token, ids := bulkSim(t, 2500)
	for _, strategy := range []string{"keyset", "parallel"} {
		t.Run(strategy, func(t *testing.T) {
			t.Parallel()
			plugin := gitlabPlugin(t, gitlab.ListStrategyEnv+"="+strategy)
			got, err := list(context.Background(), plugin, &scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL, token)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkComplete(t, got, ids, 100)
			if len(got.pages) != 25 {
				t.Fatalf("%d messages, want one per GitLab page (25)", len(got.pages))
			}
		})
	}
	t.Run("page_size", func(t *testing.T) {
		t.Parallel()
		got, err := list(context.Background(), gitlabPlugin(t), &scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL, token), PageSize: 40}, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkComplete(t, got, ids, 40)
		if len(got.pages) != 63 {
			t.Fatalf("%d messages, want 63 pages of 40", len(got.pages))
		}
	})
}

func TestListRepositoriesMapsProjects(t *testing.T) {
	t.Parallel()
	sim, demo := demoSim(t)
	plugin := gitlabPlugin(t)
	ctx := context.Background()
	conn := patConn(sim.URL, demo.Token)

	got, err := list(ctx, plugin, &scmv1.ListRepositoriesRequest{Connection: conn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Default: Developer or more, not archived. Not the Reporter-only
	// design system, the archived legacy app, or alice's handbook.
	names := []string{}
	for _, r := range got.repos {
		names = append(names, r.GetFullName())
	}
	want := []string{"oore-demo/mobile/flutter-app", "oore-demo/website", "demo/playground"}
	if !slices.Equal(names, want) {
		t.Fatalf("listed %v, want %v", names, want)
	}
	app := got.byName("oore-demo/mobile/flutter-app")
	wantApp := &scmv1.Repository{
		ExternalId: strconv.FormatInt(demo.FlutterApp.ID, 10), FullName: "oore-demo/mobile/flutter-app", Name: "Flutter App",
		Namespace: "oore-demo/mobile", DefaultBranch: "main", Private: true, Visibility: "private",
		CloneUrl: sim.URL + "/oore-demo/mobile/flutter-app.git", WebUrl: sim.URL + "/oore-demo/mobile/flutter-app",
		AccessLevel: scmv1.AccessLevel_ACCESS_LEVEL_ADMIN, LastActivityAt: demo.FlutterApp.LastActivityAt.Unix(),
	}
	app.AvatarUrl = ""
	if app.String() != wantApp.String() {
		t.Fatalf("flutter app:\n got %v\nwant %v", app, wantApp)
	}
	if site := got.byName("oore-demo/website"); site.GetPrivate() || site.GetVisibility() != "public" || site.GetAccessLevel() != scmv1.AccessLevel_ACCESS_LEVEL_MAINTAIN {
		t.Fatalf("website = %v", site)
	}

	tests := map[string]struct {
		req  *scmv1.ListRepositoriesRequest
		want []string
	}{
		"include archived": {
			&scmv1.ListRepositoriesRequest{Connection: conn, IncludeArchived: true},
			[]string{"oore-demo/mobile/flutter-app", "oore-demo/website", "oore-demo/legacy-app", "demo/playground"},
		},
		"read access": {
			&scmv1.ListRepositoriesRequest{Connection: conn, MinAccessLevel: scmv1.AccessLevel_ACCESS_LEVEL_READ},
			[]string{"oore-demo/mobile/flutter-app", "oore-demo/website", "oore-demo/mobile/design-system", "demo/playground"},
		},
		"admin access": {
			&scmv1.ListRepositoriesRequest{Connection: conn, MinAccessLevel: scmv1.AccessLevel_ACCESS_LEVEL_ADMIN},
			[]string{"oore-demo/mobile/flutter-app", "demo/playground"},
		},
		"search": {
			&scmv1.ListRepositoriesRequest{Connection: conn, Search: "flutter"},
			[]string{"oore-demo/mobile/flutter-app"},
		},
		"nothing found": {
			&scmv1.ListRepositoriesRequest{Connection: conn, Search: "no-such-project"},
			nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := list(ctx, plugin, tc.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range got.repos {
				names = append(names, r.GetFullName())
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("listed %v, want %v", names, tc.want)
			}
			if r := got.byName("oore-demo/mobile/design-system"); r != nil && r.GetAccessLevel() != scmv1.AccessLevel_ACCESS_LEVEL_READ {
				t.Fatalf("a Reporter's access level = %v, want READ", r.GetAccessLevel())
			}
		})
	}

	refusals := map[string]struct {
		req    *scmv1.ListRepositoriesRequest
		code   codes.Code
		reason scmerr.Reason
	}{
		"unknown access level": {&scmv1.ListRepositoriesRequest{Connection: conn, MinAccessLevel: 42}, codes.InvalidArgument, scmerr.ReasonInvalidInput},
		"search too long":      {&scmv1.ListRepositoriesRequest{Connection: conn, Search: strings.Repeat("x", 256)}, codes.InvalidArgument, scmerr.ReasonInvalidInput},
		"revoked token": {&scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL,
			sim.AddPersonalAccessToken(demo.User.ID, "r", []string{"api", "read_repository"}, nil, true))}, codes.Unauthenticated, scmerr.ReasonAuthFailed},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := list(ctx, plugin, tc.req, nil)
			wantErr(t, err, tc.code, tc.reason, tc.req.GetConnection().GetCredentials().GetAccessToken())
		})
	}
}

// TestListRepositoriesWaitsOutRateLimit: GitLab throttles in the middle of
// a listing; the listing waits as Retry-After says and completes.
func TestListRepositoriesWaitsOutRateLimit(t *testing.T) {
	t.Parallel()
	for _, strategy := range []string{"keyset", "parallel"} {
		t.Run(strategy, func(t *testing.T) {
			t.Parallel()
			sim, token, ids := bulkSim(t, 1000)
			plugin := gitlabPlugin(t, gitlab.ListStrategyEnv+"="+strategy)
			// Slow pages so that the listing is still under way when the
			// throttle starts after the first message.
			sim.SetLatency(30 * time.Millisecond)
			start := time.Now()
			got, err := list(context.Background(), plugin, &scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL, token)}, func(i int) {
				if i == 0 {
					sim.RateLimitNext(1, time.Second)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			checkComplete(t, got, ids, 100)
			throttled := 0
			for _, r := range sim.RequestLog() {
				if r.Status == 429 {
					throttled++
				}
			}
			if throttled != 1 {
				t.Fatalf("%d requests were throttled, want 1", throttled)
			}
			if time.Since(start) < time.Second {
				t.Fatalf("done in %s: the Retry-After second was not waited", time.Since(start))
			}
		})
	}
}

// TestListRepositoriesCancelStopsPaging: once the host cancels the stream,
// the plugin sends no more requests to GitLab.
func TestListRepositoriesCancelStopsPaging(t *testing.T) {
	t.Parallel()
	for _, strategy := range []string{"keyset", "parallel"} {
		t.Run(strategy, func(t *testing.T) {
			t.Parallel()
			sim, token, _ := bulkSim(t, 5000)
			sim.SetLatency(40 * time.Millisecond)
			plugin := gitlabPlugin(t, gitlab.ListStrategyEnv+"="+strategy)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := list(ctx, plugin, &scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL, token)}, func(i int) {
				if i == 1 {
					cancel()
				}
			})
			if scmerr.CodeOf(err) != codes.Canceled {
				t.Fatalf("got %v, want Canceled", err)
			}
			// Wait until the counter has not moved for 5 latencies, then
			// check it stays put.
			count := func() int { return sim.Requests("GET", "/api/v4/projects") }
			last, stable := count(), time.Now()
			deadline := time.Now().Add(5 * time.Second)
			for time.Since(stable) < 200*time.Millisecond {
				if time.Now().After(deadline) {
					t.Fatalf("requests kept coming after the cancel: %d", count())
				}
				time.Sleep(10 * time.Millisecond)
				if n := count(); n != last {
					last, stable = n, time.Now()
				}
			}
			if last >= 20 {
				t.Fatalf("%d page requests for a listing cancelled after 2 of 50 pages", last)
			}
		})
	}
}

// TestListRepositoriesParallelSurvivesChanges: a project disappears, or
// the account joins an older project, while a parallel listing reads offset
// pages. Offsets shift; the lister notices (x-total changes, a project
// repeats) and finishes by keyset, so nothing is missed or sent twice.
func TestListRepositoriesParallelSurvivesChanges(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		change func(sim *gitlabsim.Server, bulk int64, ids, others []int64) []int64 // returns the IDs expected
	}{
		"a project already sent is deleted": {func(sim *gitlabsim.Server, _ int64, ids, _ []int64) []int64 {
			if err := sim.DeleteProject(ids[10]); err != nil {
				t.Error(err)
			}
			return ids // ids[10] went out before it was deleted
		}},
		"the account joins an older project": {func(sim *gitlabsim.Server, bulk int64, ids, others []int64) []int64 {
			if err := sim.AddMember(others[0], bulk, gitlabsim.DeveloperAccess); err != nil {
				t.Error(err)
			}
			want := append(slices.Clone(ids), others[0])
			slices.Sort(want)
			return want
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim, token, ids := bulkSim(t, 500)
			bulk, _ := sim.UserByUsername("bulk")
			others := otherProjects(t, sim)
			// Pages take 250 ms: the change lands while page 2 is on its way.
			sim.SetLatency(250 * time.Millisecond)
			plugin := inProcess(t, gitlab.WithListStrategy(gitlab.ListParallel), gitlab.WithListWorkers(2), gitlab.WithListPrefetch(1))
			var want []int64
			got, err := list(context.Background(), plugin, &scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL, token)}, func(i int) {
				if i == 0 {
					want = tc.change(sim, bulk.ID, ids, others)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			checkComplete(t, got, want, 100)
		})
	}
}

// otherProjects are the IDs of the projects of "other" in a bulkSim.
func otherProjects(t *testing.T, sim *gitlabsim.Server) []int64 {
	t.Helper()
	var ids []int64
	for id := int64(1); id < 10_000 && len(ids) < 50; id++ {
		if p, ok := sim.Project(id); ok && strings.HasPrefix(p.PathWithNamespace, "other/") {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Fatal("no projects of other")
	}
	return ids
}

// TestListRepositoriesWithoutTotals: above 10,000 projects GitLab leaves
// out x-total and x-total-pages; the parallel lister reads windows of
// pages until the list ends.
func TestListRepositoriesWithoutTotals(t *testing.T) {
	t.Parallel()
	sim, token, ids := bulkSim(t, 10_050)
	plugin := inProcess(t, gitlab.WithListStrategy(gitlab.ListParallel))
	got, err := list(context.Background(), plugin, &scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL, token)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, got, ids, 100)
	if n := sim.Requests("GET", "/api/v4/projects"); n > 101+8 {
		t.Fatalf("%d page requests for 101 pages: the window overshoots", n)
	}
}

// BenchmarkListRepositories lists 10,000 projects from a simulator that
// takes 20 ms per request, with each strategy.
func BenchmarkListRepositories(b *testing.B) {
	sim, token, ids := bulkSim(b, 10_000)
	sim.SetLatency(20 * time.Millisecond)
	for _, s := range []gitlab.ListStrategy{gitlab.ListKeyset, gitlab.ListParallel} {
		b.Run(s.String(), func(b *testing.B) {
			plugin := inProcess(b, gitlab.WithListStrategy(s))
			req := &scmv1.ListRepositoriesRequest{Connection: patConn(sim.URL, token)}
			for b.Loop() {
				got, err := list(context.Background(), plugin, req, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(got.repos) != len(ids) {
					b.Fatalf("listed %d of %d", len(got.repos), len(ids))
				}
			}
		})
	}
}
