package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strconv"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/time/rate"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/plugin/gitlab"
	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
)

// listSim is a simulator seeded with one user owning n projects.
type listSim struct {
	sim   *gitlabsim.Server
	srv   *httptest.Server
	token string
	n     int
}

func newListSim(n int, latency time.Duration) *listSim {
	sim := gitlabsim.New(gitlabsim.Options{})
	srv := httptest.NewServer(sim)
	sim.URL = srv.URL
	u := sim.AddUser("lister", "Big Account")
	token := sim.AddPersonalAccessToken(u.ID, "bench", []string{"api", "read_repository"}, nil, false)
	sim.SeedProjects(u.ID, n, "")
	sim.SetLatency(latency)
	return &listSim{sim: sim, srv: srv, token: token, n: n}
}

func (l *listSim) close() {
	l.srv.Close()
	_ = l.sim.Close()
}

func (l *listSim) request(pageSize int) *scmv1.ListRepositoriesRequest {
	return &scmv1.ListRepositoriesRequest{
		Connection: &scmv1.Connection{
			HostUrl:     l.srv.URL,
			Credentials: &scmv1.Credentials{AuthMode: scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN, AccessToken: l.token},
		},
		PageSize: uint32(pageSize),
	}
}

// listThrough streams the whole listing from a plugin and checks it is
// complete, in ascending id order and without duplicates.
func listThrough(ctx context.Context, client scmv1.ProviderServiceClient, req *scmv1.ListRepositoriesRequest, want int) (time.Duration, error) {
	start := time.Now()
	stream, err := client.ListRepositories(ctx, req)
	if err != nil {
		return 0, err
	}
	got, last := 0, int64(0)
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("after %d repositories: %w", got, err)
		}
		for _, repo := range resp.GetRepositories() {
			id, err := strconv.ParseInt(repo.GetExternalId(), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("repository %q: %w", repo.GetExternalId(), err)
			}
			if id <= last {
				return 0, fmt.Errorf("repository %d after %d: out of order or repeated", id, last)
			}
			last = id
			got++
		}
	}
	elapsed := time.Since(start)
	if got != want {
		return 0, fmt.Errorf("listed %d repositories, want %d", got, want)
	}
	return elapsed, nil
}

// listClientGo is what Oore does today, in-process: client-go's
// ListProjects following x-next-page, one request at a time.
func listClientGo(ctx context.Context, l *listSim, pageSize int) (time.Duration, error) {
	api, err := gl.NewClient(l.token, gl.WithBaseURL(l.srv.URL+"/api/v4"), gl.WithoutRetries(), gl.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	opt := &gl.ListProjectsOptions{ListOptions: gl.ListOptions{PerPage: int64(pageSize), Page: 1}, Membership: gl.Ptr(true), Simple: gl.Ptr(true)}
	got := 0
	for {
		ps, resp, err := api.Projects.ListProjects(opt, gl.WithContext(ctx))
		if err != nil {
			return 0, fmt.Errorf("client-go list page %d: %w", opt.Page, err)
		}
		got += len(ps)
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if got != l.n {
		return 0, fmt.Errorf("client-go listed %d projects, want %d", got, l.n)
	}
	return time.Since(start), nil
}

// listing measures goal 5: listing every project of a large account through
// the plugin with its parallel strategy, against the plugin following keyset
// next-page links one request at a time, and client-go in-process following
// x-next-page; then an account above 10,000 projects, where GitLab leaves
// the totals out.
func (r *run) listing(ctx context.Context) error {
	sz := r.sz
	ls := newListSim(sz.listProjects, sz.listLatency)
	defer ls.close()
	strategyEnv := func(s gitlab.ListStrategy) []string {
		return append([]string{gitlab.ListStrategyEnv + "=" + s.String()}, r.cfg.PluginEnv...)
	}
	cache := launcher.NewChecksumCache()
	parallel, err := launcher.Launch(ctx, r.bins.plugin, launcher.Options{ChecksumCache: cache, Env: strategyEnv(gitlab.ListParallel)})
	if err != nil {
		return err
	}
	defer parallel.Close()
	keyset, err := launcher.Launch(ctx, r.bins.plugin, launcher.Options{ChecksumCache: cache, Env: strategyEnv(gitlab.ListKeyset)})
	if err != nil {
		return err
	}
	defer keyset.Close()
	idle, _, err := procMemory(parallel.Pid())
	if err != nil {
		return err
	}

	req := ls.request(sz.listPageSize)
	var par, seq, cgo, cpu []float64
	for i := -1; i < sz.listRounds; i++ { // i == -1: warm-up (connections, caches)
		cpuBefore, err := procCPU(parallel.Pid())
		if err != nil {
			return err
		}
		p, err := listThrough(ctx, parallel.Provider(), req, ls.n)
		if err != nil {
			return fmt.Errorf("parallel listing: %w", err)
		}
		cpuAfter, err := procCPU(parallel.Pid())
		if err != nil {
			return err
		}
		s, err := listThrough(ctx, keyset.Provider(), req, ls.n)
		if err != nil {
			return fmt.Errorf("keyset listing: %w", err)
		}
		c, err := listClientGo(ctx, ls, sz.listPageSize)
		if err != nil {
			return err
		}
		if i >= 0 {
			par, seq, cgo = append(par, millis(p)), append(seq, millis(s)), append(cgo, millis(c))
			cpu = append(cpu, millis(cpuAfter-cpuBefore))
		}
	}
	rss, peak, err := procMemory(parallel.Pid())
	if err != nil {
		return err
	}
	pages := (ls.n + sz.listPageSize - 1) / sz.listPageSize
	setup := fmt.Sprintf("%d projects, %d per page (%d pages), %s latency per request", ls.n, sz.listPageSize, pages, sz.listLatency)
	r.report.add(secList,
		Figure{Name: "list_10k_ms", Value: median(par), Unit: "ms", Label: "through the plugin, parallel offset pages", Note: setup + "; complete, in order"},
		Figure{Name: "list_10k_sequential_ms", Value: median(seq), Unit: "ms", Label: "through the plugin, keyset next-page links one at a time", Note: "the provider's sequential strategy"},
		Figure{Name: "list_speedup", Value: ratio(median(seq), median(par)), Unit: "x", Label: "sequential / parallel", Goal: &Goal{Bound: 4}},
		Figure{Name: "list_10k_clientgo_ms", Value: median(cgo), Unit: "ms", Label: "client-go in-process following x-next-page (Oore today)"},
		Figure{Name: "list_plugin_cpu_ms", Value: median(cpu), Unit: "ms", Label: "plugin CPU time for one parallel listing", Note: "user + system, /proc/<pid>/stat"},
		Figure{Name: "list_plugin_rss_growth_mb", Value: peak - idle, Unit: "MB", Label: "plugin peak RSS growth while listing", Note: fmt.Sprintf("VmHWM − RSS before (%.1f → %.1f MiB, %.1f after)", idle, peak, rss)},
	)
	if sz.listOver10k == 0 {
		return nil
	}
	big := newListSim(sz.listOver10k, sz.listLatency)
	defer big.close()
	breq := big.request(sz.listPageSize)
	var bpar, bseq []float64
	for i := -1; i < sz.listRounds; i++ {
		p, err := listThrough(ctx, parallel.Provider(), breq, big.n)
		if err != nil {
			return fmt.Errorf("parallel listing above 10,000: %w", err)
		}
		s, err := listThrough(ctx, keyset.Provider(), breq, big.n)
		if err != nil {
			return fmt.Errorf("keyset listing above 10,000: %w", err)
		}
		if i >= 0 {
			bpar, bseq = append(bpar, millis(p)), append(bseq, millis(s))
		}
	}
	r.report.add(secList,
		Figure{Name: "list_over10k_ms", Value: median(bpar), Unit: "ms", Label: fmt.Sprintf("%d projects (no totals), parallel", big.n), Note: "GitLab sends no x-total/x-total-pages above 10,000; complete, in order"},
		Figure{Name: "list_over10k_sequential_ms", Value: median(bseq), Unit: "ms", Label: fmt.Sprintf("%d projects, keyset one at a time", big.n)},
		Figure{Name: "list_over10k_speedup", Value: ratio(median(bseq), median(bpar)), Unit: "x", Label: "sequential / parallel above 10,000", Goal: &Goal{Bound: 4}},
	)
	return nil
}
