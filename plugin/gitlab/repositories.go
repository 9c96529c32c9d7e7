package gitlab

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	gl "gitlab.com/gitlab-org/api/client-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// ListStrategy is how ListRepositories pages through GET /api/v4/projects.
//
// Both strategies list projects in ascending ID order, send one stream
// message per GitLab page, never send a project twice, and hold at most a
// bounded number of pages in memory whatever the number of projects: pages
// wait in a channel of ListPrefetch pages (plus, for ListParallel, a window
// of ListWorkers pages being fetched), and the stream's own flow control
// stops the fetching when the host reads slowly. Cancelling the stream
// cancels every request in flight and stops the paging.
type ListStrategy int

const (
	// ListParallel (the default) fetches offset-paginated pages with a
	// bounded pool of workers, ahead of the stream, and emits them in
	// order. Page 1 comes first and says how many pages there are
	// (x-total-pages); when GitLab leaves the totals out (more than 10,000
	// projects) pages are fetched in windows until a short page ends the
	// list.
	//
	// Offset pages shift when projects appear or disappear while the list
	// is read. The lister notices it (x-total changes between pages, or a
	// page repeats a project already sent) and then lists the rest with
	// keyset pagination after the last project it sent, which is exact. A
	// shift it cannot notice, because totals are absent or an addition and
	// a removal cancel out, can skip a project that moved across a page
	// boundary during the listing; the next listing finds it. GitLab
	// refuses offsets beyond 50,000 projects: the rest is listed by keyset.
	ListParallel ListStrategy = iota
	// ListKeyset follows GitLab's keyset pagination (rel="next" links,
	// id_after) one page after another, prefetching ListPrefetch pages
	// ahead of the stream. It is exact whatever changes during the
	// listing, but each page waits for the one before it: on a slow link
	// a large account takes one round trip per 100 projects.
	ListKeyset
)

// ListStrategyEnv names the environment variable that selects the strategy
// of a plugin process: "parallel" (default) or "keyset". An explicit
// WithListStrategy wins. The host passes it in the plugin's environment
// (launcher.Options.Env; OORE_PLUGIN_* variables reach plugins).
const ListStrategyEnv = "OORE_PLUGIN_GITLAB_LIST_STRATEGY"

// String names the strategy as ListStrategyEnv spells it.
func (s ListStrategy) String() string {
	switch s {
	case ListParallel:
		return "parallel"
	case ListKeyset:
		return "keyset"
	}
	return "ListStrategy(" + strconv.Itoa(int(s)) + ")"
}

// ParseListStrategy reads "parallel" or "keyset" (also "sequential").
func ParseListStrategy(s string) (ListStrategy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "parallel", "":
		return ListParallel, nil
	case "keyset", "sequential":
		return ListKeyset, nil
	}
	return ListParallel, fmt.Errorf("unknown list strategy %q: want parallel or keyset", s)
}

// Defaults of the listing.
const (
	defaultPerPage  = 100 // GitLab's maximum
	defaultPrefetch = 2
	defaultWorkers  = 8
	maxSearchLen    = 255
)

// listConfig tunes ListRepositories.
type listConfig struct {
	strategy ListStrategy
	// prefetch is how many pages wait, fetched, for the stream.
	prefetch int
	// workers is how many pages ListParallel fetches at once.
	workers int
}

func defaultListConfig() listConfig {
	return listConfig{strategy: ListParallel, prefetch: defaultPrefetch, workers: defaultWorkers}
}

// listConfigFromEnv applies ListStrategyEnv; a value it does not know is
// ignored and returned as an error for New to log.
func (p *Provider) listConfigFromEnv() error {
	v, ok := os.LookupEnv(ListStrategyEnv)
	if !ok {
		return nil
	}
	s, err := ParseListStrategy(v)
	if err != nil {
		return fmt.Errorf("%s: %w", ListStrategyEnv, err)
	}
	p.list.strategy = s
	return nil
}

// WithListStrategy chooses how ListRepositories pages (default ListParallel).
func WithListStrategy(s ListStrategy) Option {
	return func(p *Provider) { p.list.strategy = s }
}

// WithListPrefetch sets how many fetched pages may wait for the stream
// (default 2, at least 1).
func WithListPrefetch(pages int) Option {
	return func(p *Provider) { p.list.prefetch = max(1, pages) }
}

// WithListWorkers sets how many pages ListParallel fetches at once
// (default 8, at least 1).
func WithListWorkers(n int) Option {
	return func(p *Provider) { p.list.workers = max(1, n) }
}

// minAccessLevels maps the contract's access levels to GitLab's
// min_access_level: READ is Guest (10), WRITE Developer (30, the default:
// what a CI can build), MAINTAIN Maintainer (40), ADMIN Owner (50).
var minAccessLevels = map[scmv1.AccessLevel]gl.AccessLevelValue{
	scmv1.AccessLevel_ACCESS_LEVEL_UNSPECIFIED: gl.DeveloperPermissions,
	scmv1.AccessLevel_ACCESS_LEVEL_READ:        gl.GuestPermissions,
	scmv1.AccessLevel_ACCESS_LEVEL_WRITE:       gl.DeveloperPermissions,
	scmv1.AccessLevel_ACCESS_LEVEL_MAINTAIN:    gl.MaintainerPermissions,
	scmv1.AccessLevel_ACCESS_LEVEL_ADMIN:       gl.OwnerPermissions,
}

// accessLevel maps a GitLab access level to the contract's: Guest, Planner
// and Reporter read; Developer writes; Maintainer maintains; Owner administers.
func accessLevel(level int64) scmv1.AccessLevel {
	switch {
	case level >= int64(gl.OwnerPermissions):
		return scmv1.AccessLevel_ACCESS_LEVEL_ADMIN
	case level >= int64(gl.MaintainerPermissions):
		return scmv1.AccessLevel_ACCESS_LEVEL_MAINTAIN
	case level >= int64(gl.DeveloperPermissions):
		return scmv1.AccessLevel_ACCESS_LEVEL_WRITE
	case level >= int64(gl.GuestPermissions):
		return scmv1.AccessLevel_ACCESS_LEVEL_READ
	}
	return scmv1.AccessLevel_ACCESS_LEVEL_UNSPECIFIED
}

// glProject is the part of GitLab's project entity a repository needs
// (decodeProjects fills it; the json tags say where each field comes from).
type glProject struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	Path              string `json:"path"`
	PathWithNamespace string `json:"path_with_namespace"`
	Namespace         struct {
		FullPath string `json:"full_path"`
	} `json:"namespace"`
	DefaultBranch  string     `json:"default_branch"`
	Visibility     string     `json:"visibility"`
	HTTPURLToRepo  string     `json:"http_url_to_repo"`
	WebURL         string     `json:"web_url"`
	AvatarURL      string     `json:"avatar_url"`
	Archived       bool       `json:"archived"`
	LastActivityAt *time.Time `json:"last_activity_at"`
	Permissions    struct {
		ProjectAccess *glAccess `json:"project_access"`
		GroupAccess   *glAccess `json:"group_access"`
	} `json:"permissions"`
}

// glAccess is an access level of GitLab's permissions entity.
type glAccess struct {
	AccessLevel int64 `json:"access_level"`
}

// repository maps a project. private is visibility != "public": an
// internal project is visible to every signed-in user of that GitLab but
// not to the outside world, so a CI must treat it as private (clone with
// credentials, keep its logs private). The access level is the higher of
// the project's and the group's; when GitLab sends neither, the listing's
// min_access_level is the known lower bound.
func (g *glProject) repository(floor gl.AccessLevelValue) *scmv1.Repository {
	level := int64(floor)
	if pa := g.Permissions.ProjectAccess; pa != nil && pa.AccessLevel > 0 {
		level = pa.AccessLevel
	}
	if ga := g.Permissions.GroupAccess; ga != nil && ga.AccessLevel > level {
		level = ga.AccessLevel
	}
	name := g.Name
	if name == "" {
		name = g.Path
	}
	r := &scmv1.Repository{
		ExternalId:    strconv.FormatInt(g.ID, 10),
		FullName:      g.PathWithNamespace,
		Name:          name,
		Namespace:     g.Namespace.FullPath,
		DefaultBranch: g.DefaultBranch,
		Private:       g.Visibility != string(gl.PublicVisibility),
		Visibility:    g.Visibility,
		CloneUrl:      g.HTTPURLToRepo,
		WebUrl:        g.WebURL,
		AvatarUrl:     g.AvatarURL,
		AccessLevel:   accessLevel(level),
		Archived:      g.Archived,
	}
	if g.LastActivityAt != nil {
		r.LastActivityAt = g.LastActivityAt.Unix()
	}
	return r
}

// ListRepositories streams every project the connection's account is a
// member of with at least the requested access level, in ascending ID
// order, a page per message, with the provider's ListStrategy.
func (p *Provider) ListRepositories(req *scmv1.ListRepositoriesRequest, stream grpc.ServerStreamingServer[scmv1.ListRepositoriesResponse]) error {
	var v violations
	v.check("search", req.GetSearch(), fmt.Sprintf("max=%d", maxSearchLen))
	floor, ok := minAccessLevels[req.GetMinAccessLevel()]
	if !ok {
		v.add("min_access_level", "is not a known access level")
	}
	c, err := p.connect(req.GetConnection(), connectionRequest{}, v)
	if err != nil {
		return err
	}
	perPage := int64(defaultPerPage)
	if n := req.GetPageSize(); n > 0 && n < defaultPerPage {
		perPage = int64(n)
	}
	l := &lister{c: c, cfg: p.list, log: p.log, perPage: perPage, floor: floor, base: gl.ListProjectsOptions{
		ListOptions:    gl.ListOptions{PerPage: perPage, OrderBy: "id", Sort: "asc"},
		Membership:     gl.Ptr(true),
		MinAccessLevel: gl.Ptr(floor),
	}}
	if !req.GetIncludeArchived() {
		l.base.Archived = gl.Ptr(false)
	}
	if s := req.GetSearch(); s != "" {
		l.base.Search = gl.Ptr(s)
	}

	ctx, cancel := context.WithCancel(stream.Context())
	pages := make(chan listPage, p.list.prefetch)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		if l.cfg.strategy == ListKeyset {
			l.keyset(ctx, pages, 0)
		} else {
			l.parallel(ctx, pages)
		}
	}()
	// Stop the paging and wait for it, whichever way this returns.
	defer func() { cancel(); wg.Wait() }()

	start, sent, msgs := time.Now(), 0, 0
	for pg := range pages {
		if pg.err != nil {
			return pg.err
		}
		if err := stream.Send(&scmv1.ListRepositoriesResponse{Repositories: pg.repos}); err != nil {
			return err
		}
		sent, msgs = sent+len(pg.repos), msgs+1
	}
	p.log.Debug("listed repositories", "host", c.origin, "strategy", l.cfg.strategy.String(),
		"repositories", sent, "messages", msgs, "duration", time.Since(start))
	if err := stream.Context().Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	return nil
}

// listPage is one page for the stream, or the error that ends it.
type listPage struct {
	repos []*scmv1.Repository
	err   error
}

// lister pages through GET /api/v4/projects for one ListRepositories call.
// Its pages reach the stream through one goroutine (keyset, or the
// in-order consumer of parallel), so lastID needs no lock.
type lister struct {
	c       *connection
	cfg     listConfig
	log     hclog.Logger
	base    gl.ListProjectsOptions
	perPage int64
	floor   gl.AccessLevelValue
	// lastID is the highest project ID sent: IDs only grow along the list,
	// so anything at or below it is a duplicate.
	lastID int64
}

// fetched is one GitLab page as it arrived.
type fetched struct {
	projects []glProject
	resp     *gl.Response
	err      error
}

// fetch GETs one page of projects with request options (page, keyset link).
// client-go sends the request and checks the answer; the body is decoded
// by decodeProjects.
func (l *lister) fetch(ctx context.Context, opt *gl.ListProjectsOptions, extra ...gl.RequestOptionFunc) fetched {
	reqOpts := append([]gl.RequestOptionFunc{gl.WithContext(ctx)}, extra...)
	req, err := l.c.api.NewRequest(http.MethodGet, "projects", opt, reqOpts)
	if err != nil {
		return fetched{err: err}
	}
	var body bytes.Buffer
	resp, err := l.c.api.Do(req, &body)
	if err != nil {
		return fetched{resp: resp, err: err}
	}
	projects, err := decodeProjects(body.Bytes())
	return fetched{projects: projects, resp: resp, err: err}
}

// decodeProjects reads a GET /projects answer, a JSON array of GitLab's
// project entity, keeping only the fields of glProject. It reads the page
// in one pass with the package's JSON scanner (webhook_jsonscan.go) and
// skips the rest of each project without building it: on large listings
// encoding/json spent more CPU here than the whole rest of the plugin.
// It answers what json.Unmarshal into []glProject answers
// (FuzzDecodeProjects holds it to that).
func decodeProjects(data []byte) ([]glProject, error) {
	var s jsonScanner
	s.init(data, len(data)/4)
	s.ws()
	var out []glProject
	switch s.peek() {
	case '[':
		out = make([]glProject, 0, defaultPerPage)
		if _, err := s.array(func(int) error {
			out = append(out, glProject{})
			return s.objectOrNull(out[len(out)-1].member(&s))
		}); err != nil {
			return nil, err
		}
	case 'n':
		if err := s.literal("null"); err != nil {
			return nil, err
		}
	default:
		if err := s.wrongType("a list of projects"); err != nil {
			return nil, err
		}
	}
	s.ws()
	if s.pos < len(s.data) {
		return nil, s.syntaxError("invalid character after top-level value")
	}
	return out, nil
}

// Field names of the project entity that decodeProjects reads.
var (
	projectFields     = []string{"id", "name", "path", "path_with_namespace", "default_branch", "visibility", "http_url_to_repo", "web_url", "avatar_url", "archived", "last_activity_at", "namespace", "permissions"}
	namespaceFields   = []string{"full_path"}
	permissionsFields = []string{"project_access", "group_access"}
	accessFields      = []string{"access_level"}
)

// matchKey finds an object key among names with encoding/json's rule: the
// exact name first, then the case-folded one. It returns "" for no match.
func matchKey(key []byte, names []string) string {
	for _, n := range names {
		if string(key) == n {
			return n
		}
	}
	if folded, ok := foldKey(key); ok {
		for _, n := range names {
			if string(folded) == n {
				return n
			}
		}
	}
	return ""
}

// member decodes one member of a project object.
func (g *glProject) member(s *jsonScanner) func(key []byte) error {
	return func(key []byte) error {
		switch matchKey(key, projectFields) {
		case "id":
			return s.int(&g.ID)
		case "name":
			return s.str(&g.Name)
		case "path":
			return s.str(&g.Path)
		case "path_with_namespace":
			return s.str(&g.PathWithNamespace)
		case "default_branch":
			return s.str(&g.DefaultBranch)
		case "visibility":
			return s.str(&g.Visibility)
		case "http_url_to_repo":
			return s.str(&g.HTTPURLToRepo)
		case "web_url":
			return s.str(&g.WebURL)
		case "avatar_url":
			return s.str(&g.AvatarURL)
		case "archived":
			return s.boolean(&g.Archived)
		case "last_activity_at":
			return s.timestamp(&g.LastActivityAt)
		case "namespace":
			return s.objectOrNull(func(key []byte) error {
				if matchKey(key, namespaceFields) != "" {
					return s.str(&g.Namespace.FullPath)
				}
				return s.skip()
			})
		case "permissions":
			return s.objectOrNull(func(key []byte) error {
				switch matchKey(key, permissionsFields) {
				case "project_access":
					return s.accessLevel(&g.Permissions.ProjectAccess)
				case "group_access":
					return s.accessLevel(&g.Permissions.GroupAccess)
				}
				return s.skip()
			})
		}
		return s.skip()
	}
}

// timestamp decodes a time (or null, which sets nil, as for any pointer)
// with time.Time's own UnmarshalJSON, as encoding/json does.
func (s *jsonScanner) timestamp(dst **time.Time) error {
	switch s.peek() {
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		*dst = nil
		return nil
	case '"':
		start := s.pos
		if _, _, err := s.scanString(); err != nil {
			return err
		}
		t := new(time.Time)
		if err := t.UnmarshalJSON(s.data[start:s.pos]); err != nil {
			return &jsonError{offset: start, msg: "a timestamp that is not RFC 3339"}
		}
		*dst = t
		return nil
	default:
		return s.wrongType("a timestamp")
	}
}

// accessLevel decodes {"access_level": n, ...} into *dst, reusing a value
// already there; null sets nil.
func (s *jsonScanner) accessLevel(dst **glAccess) error {
	if s.peek() == 'n' {
		if err := s.literal("null"); err != nil {
			return err
		}
		*dst = nil
		return nil
	}
	if s.peek() != '{' {
		return s.wrongType("an object")
	}
	a := *dst
	if a == nil {
		a = &glAccess{}
		*dst = a
	}
	return s.object(func(key []byte) error {
		if matchKey(key, accessFields) != "" {
			return s.int(&a.AccessLevel)
		}
		return s.skip()
	})
}

// send passes a page to the stream, skipping projects already sent. It
// reports false when the listing was cancelled. dup reports whether the
// page repeated a project (offset pages shifted).
func (l *lister) send(ctx context.Context, out chan<- listPage, projects []glProject) (ok, dup bool) {
	repos := make([]*scmv1.Repository, 0, len(projects))
	for i := range projects {
		if projects[i].ID <= l.lastID {
			dup = true
			continue
		}
		l.lastID = projects[i].ID
		repos = append(repos, projects[i].repository(l.floor))
	}
	if len(repos) == 0 {
		return ctx.Err() == nil, dup
	}
	select {
	case out <- listPage{repos: repos}:
		return true, dup
	case <-ctx.Done():
		return false, dup
	}
}

// fail passes the error that ends the listing to the stream.
func (l *lister) fail(ctx context.Context, out chan<- listPage, f fetched) {
	err := l.c.failure(ctx, "list projects", f.resp, f.err)
	select {
	case out <- listPage{err: err}:
	case <-ctx.Done():
	}
}

// keyset lists projects with ID above idAfter by keyset pagination,
// following GitLab's rel="next" links (only their query is used: the link's
// host is never contacted).
func (l *lister) keyset(ctx context.Context, out chan<- listPage, idAfter int64) {
	opt := l.base
	opt.Pagination = "keyset"
	if idAfter > 0 {
		opt.IDAfter = gl.Ptr(idAfter)
	}
	var next []gl.RequestOptionFunc
	for {
		f := l.fetch(ctx, &opt, next...)
		if f.err != nil {
			l.fail(ctx, out, f)
			return
		}
		if ok, _ := l.send(ctx, out, f.projects); !ok {
			return
		}
		if f.resp.NextLink == "" || int64(len(f.projects)) < l.perPage {
			return
		}
		next = []gl.RequestOptionFunc{gl.WithKeysetPaginationParameters(f.resp.NextLink)}
	}
}

// parallel lists with offset pages fetched by a bounded pool of workers and
// sent in page order; see ListParallel.
func (l *lister) parallel(ctx context.Context, out chan<- listPage) {
	opt := l.base
	offsetPage := func(ctx context.Context, n int64) fetched {
		o := opt
		o.Page = n
		return l.fetch(ctx, &o)
	}
	first := offsetPage(ctx, 1)
	if first.err != nil {
		l.fail(ctx, out, first)
		return
	}
	if ok, _ := l.send(ctx, out, first.projects); !ok || l.lastPage(first) {
		return
	}
	totalPages := first.resp.TotalPages // 0: GitLab left the totals out
	total, totalKnown := first.resp.Header.Get("X-Total"), first.resp.Header.Get("X-Total") != ""

	wctx, stop := context.WithCancel(ctx)
	var workers sync.WaitGroup
	defer func() { stop(); workers.Wait() }()

	// window holds, in page order, the result slot of every page being
	// fetched; its capacity bounds the pages in flight.
	window := make(chan chan fetched, l.cfg.workers)
	workers.Add(1)
	go func() {
		defer workers.Done()
		defer close(window)
		for n := int64(2); totalPages == 0 || n <= totalPages; n++ {
			slot := make(chan fetched, 1)
			select {
			case window <- slot:
			case <-wctx.Done():
				return
			}
			workers.Add(1)
			go func(n int64) {
				defer workers.Done()
				slot <- offsetPage(wctx, n)
			}(n)
		}
	}()

	for slot := range window {
		var f fetched
		select {
		case f = <-slot:
		case <-ctx.Done():
			return
		}
		if f.err != nil {
			if statusOf(f.resp, f.err) == http.StatusMethodNotAllowed {
				// Beyond GitLab's offset limit (50,000 projects): keyset from here.
				l.log.Debug("offset limit reached; listing the rest by keyset", "host", l.c.origin, "after_id", l.lastID)
				stop()
				l.keyset(ctx, out, l.lastID)
				return
			}
			l.fail(ctx, out, f)
			return
		}
		if totalKnown && f.resp.Header.Get("X-Total") != total {
			// Projects appeared or disappeared: offsets shifted. Finish exactly.
			l.log.Debug("projects changed during the listing; finishing by keyset", "host", l.c.origin, "after_id", l.lastID)
			stop()
			l.keyset(ctx, out, l.lastID)
			return
		}
		ok, dup := l.send(ctx, out, f.projects)
		if !ok {
			return
		}
		if dup {
			l.log.Debug("offset pages shifted; finishing by keyset", "host", l.c.origin, "after_id", l.lastID)
			stop()
			l.keyset(ctx, out, l.lastID)
			return
		}
		if l.lastPage(f) {
			return
		}
	}
}

// lastPage reports whether an offset page ends the list.
func (l *lister) lastPage(f fetched) bool {
	return int64(len(f.projects)) < l.perPage || f.resp.NextPage == 0
}
