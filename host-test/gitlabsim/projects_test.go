package gitlabsim_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

type listedProject struct {
	ID                int64          `json:"id"`
	Name              string         `json:"name"`
	Path              string         `json:"path"`
	PathWithNamespace string         `json:"path_with_namespace"`
	NameWithNamespace string         `json:"name_with_namespace"`
	Visibility        string         `json:"visibility"`
	Archived          bool           `json:"archived"`
	DefaultBranch     string         `json:"default_branch"`
	HTTPURLToRepo     string         `json:"http_url_to_repo"`
	WebURL            string         `json:"web_url"`
	Namespace         map[string]any `json:"namespace"`
	Permissions       *struct {
		ProjectAccess *struct {
			AccessLevel int `json:"access_level"`
		} `json:"project_access"`
	} `json:"permissions"`
}

func listPaths(t *testing.T, s *gitlabsim.Server, query, token string) []string {
	t.Helper()
	a := get(t, s, "/api/v4/projects"+query, token)
	if a.status != http.StatusOK {
		t.Fatalf("%s: %d %s", query, a.status, a.body)
	}
	var ps []listedProject
	a.json(t, &ps)
	var out []string
	for _, p := range ps {
		out = append(out, p.PathWithNamespace)
	}
	return out
}

func TestListProjectsFilters(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	cases := map[string]struct {
		query string
		want  []string
	}{
		"membership": {"?membership=true&order_by=id&sort=asc", []string{
			"oore-demo/mobile/flutter-app", "oore-demo/website", "oore-demo/legacy-app", "oore-demo/mobile/design-system", "demo/playground"}},
		"default order is created_at desc": {"?membership=true", []string{
			"demo/playground", "oore-demo/mobile/design-system", "oore-demo/legacy-app", "oore-demo/website", "oore-demo/mobile/flutter-app"}},
		"developer and up, not archived": {"?membership=true&min_access_level=30&archived=false&order_by=id&sort=asc", []string{
			"oore-demo/mobile/flutter-app", "oore-demo/website", "demo/playground"}},
		"maintainer and up": {"?min_access_level=40&order_by=id&sort=asc", []string{
			"oore-demo/mobile/flutter-app", "oore-demo/website", "oore-demo/legacy-app", "demo/playground"}},
		"archived only":         {"?membership=true&archived=true", []string{"oore-demo/legacy-app"}},
		"search is case-blind":  {"?search=FLUTTER", []string{"oore-demo/mobile/flutter-app"}},
		"owned":                 {"?owned=true&order_by=id&sort=asc", []string{"oore-demo/mobile/flutter-app", "demo/playground"}},
		"visibility":            {"?visibility=public", []string{"oore-demo/website"}},
		"all visible, internal": {"?order_by=id&sort=asc&visibility=internal", []string{"oore-demo/handbook"}},
		"order by name": {"?membership=true&order_by=name&sort=asc", []string{
			"oore-demo/mobile/design-system", "oore-demo/mobile/flutter-app", "oore-demo/legacy-app", "demo/playground", "oore-demo/website"}},
		"order by path desc": {"?membership=true&order_by=path&sort=desc", []string{
			"oore-demo/website", "demo/playground", "oore-demo/legacy-app", "oore-demo/mobile/flutter-app", "oore-demo/mobile/design-system"}},
	}
	for name, c := range cases {
		if got := listPaths(t, s, c.query, d.Token); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", name, got, c.want)
		}
	}
	// Without membership, demo sees its own projects plus public and
	// internal ones, but never alice's private projects.
	all := listPaths(t, s, "?per_page=100", d.Token)
	if !slices.Contains(all, "oore-demo/handbook") || slices.Contains(all, "alice/secret-app") || slices.Contains(all, "acme/tools/internal-tools") {
		t.Errorf("visible projects: %v", all)
	}
	// Anonymous callers see public projects only.
	if got := listPaths(t, s, "", ""); !slices.Equal(got, []string{"oore-demo/website"}) {
		t.Errorf("anonymous: %v", got)
	}
}

func TestListProjectsRejectsBadParameters(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	wantBody(t, get(t, s, "/api/v4/projects?order_by=stars", d.Token), 400, `{"error":"order_by does not have a valid value"}`)
	wantBody(t, get(t, s, "/api/v4/projects?membership=maybe", d.Token), 400, `{"error":"membership is invalid"}`)
	wantBody(t, get(t, s, "/api/v4/projects?per_page=many", d.Token), 400, `{"error":"per_page is invalid"}`)
	wantBody(t, get(t, s, "/api/v4/projects?min_access_level=35", d.Token), 400, `{"error":"min_access_level does not have a valid value"}`)
}

func TestFullProjectShape(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	var ps []listedProject
	get(t, s, "/api/v4/projects?membership=true&search=flutter", d.Token).json(t, &ps)
	if len(ps) != 1 {
		t.Fatalf("got %d projects", len(ps))
	}
	p := ps[0]
	group, _ := s.Group("oore-demo/mobile")
	parent, _ := s.Group("oore-demo")
	if p.ID != d.FlutterApp.ID || p.Visibility != "private" || p.Archived || p.DefaultBranch != "main" ||
		p.NameWithNamespace != "oore-demo / mobile / Flutter App" ||
		p.HTTPURLToRepo != s.URL+"/oore-demo/mobile/flutter-app.git" || p.WebURL != s.URL+"/oore-demo/mobile/flutter-app" {
		t.Errorf("project = %+v", p)
	}
	if p.Namespace["full_path"] != "oore-demo/mobile" || p.Namespace["kind"] != "group" ||
		p.Namespace["id"] != float64(group.ID) || p.Namespace["parent_id"] != float64(parent.ID) ||
		p.Namespace["web_url"] != s.URL+"/groups/oore-demo/mobile" {
		t.Errorf("namespace = %v", p.Namespace)
	}
	if p.Permissions == nil || p.Permissions.ProjectAccess == nil || p.Permissions.ProjectAccess.AccessLevel != 50 {
		t.Errorf("permissions = %+v", p.Permissions)
	}
}

func TestSimpleProjectsHaveOnlyTheSimpleFields(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	var ps []map[string]any
	get(t, s, "/api/v4/projects?membership=true&simple=true", d.Token).json(t, &ps)
	if len(ps) != 5 {
		t.Fatalf("got %d", len(ps))
	}
	allowed := []string{"id", "description", "name", "name_with_namespace", "path", "path_with_namespace",
		"created_at", "default_branch", "tag_list", "topics", "ssh_url_to_repo", "http_url_to_repo", "web_url",
		"readme_url", "forks_count", "avatar_url", "star_count", "last_activity_at", "namespace"}
	for k := range ps[0] {
		if !slices.Contains(allowed, k) {
			t.Errorf("simple project has %q", k)
		}
	}
	for _, k := range []string{"id", "path_with_namespace", "http_url_to_repo", "default_branch"} {
		if _, ok := ps[0][k]; !ok {
			t.Errorf("simple project lacks %q", k)
		}
	}
}

func TestGetProjectByIDOrPath(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	for _, id := range []string{itoa(d.FlutterApp.ID), "oore-demo%2Fmobile%2Fflutter-app", "OORE-DEMO%2Fmobile%2Fflutter-app"} {
		var p listedProject
		a := get(t, s, "/api/v4/projects/"+id, d.Token)
		a.json(t, &p)
		if a.status != 200 || p.ID != d.FlutterApp.ID {
			t.Errorf("%s: %d %s", id, a.status, a.body)
		}
	}
	notFound := `{"message":"404 Project Not Found"}`
	wantBody(t, get(t, s, "/api/v4/projects/"+itoa(d.OtherProjects[0].ID), d.Token), 404, notFound)
	wantBody(t, get(t, s, "/api/v4/projects/999999", d.Token), 404, notFound)
	wantBody(t, get(t, s, "/api/v4/projects/"+itoa(d.FlutterApp.ID), ""), 404, notFound)
	if a := get(t, s, "/api/v4/projects/"+itoa(d.Website.ID), ""); a.status != 200 {
		t.Errorf("anonymous public: %d", a.status)
	}
}

func TestMembershipChangesAreSeen(t *testing.T) {
	t.Parallel()
	s, d := newDemo(t)
	if err := s.AddMember(d.OtherProjects[0].ID, d.User.ID, gitlabsim.DeveloperAccess); err != nil {
		t.Fatal(err)
	}
	got := listPaths(t, s, "?membership=true&order_by=id&sort=asc", d.Token)
	if len(got) != 6 || got[5] != "alice/secret-app" {
		t.Fatalf("after AddMember: %v", got)
	}
	if err := s.RemoveMember(d.OtherProjects[0].ID, d.User.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProject(d.Playground.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetArchived(d.Website.ID, true); err != nil {
		t.Fatal(err)
	}
	got = listPaths(t, s, "?membership=true&archived=false&order_by=id&sort=asc", d.Token)
	if !slices.Equal(got, []string{"oore-demo/mobile/flutter-app", "oore-demo/mobile/design-system"}) {
		t.Fatalf("after changes: %v", got)
	}
}
