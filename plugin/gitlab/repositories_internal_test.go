package gitlab

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
)

// simProjectsPage is a GET /api/v4/projects page as the simulator answers
// it: GitLab's full project entity, permissions included.
func simProjectsPage(tb testing.TB, n int) []byte {
	tb.Helper()
	sim := gitlabsim.NewTestServer(tb, gitlabsim.Options{})
	u := sim.AddUser("decoder", "Decoder")
	token := sim.AddPersonalAccessToken(u.ID, "t", []string{"read_api", "read_repository"}, nil, false)
	sim.SeedProjects(u.ID, n, "team/sub")
	req, _ := http.NewRequest(http.MethodGet, sim.URL+"/api/v4/projects?membership=true&order_by=id&sort=asc&per_page=100", nil)
	req.Header.Set("Private-Token", token)
	resp, err := sim.HTTPClient().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("simulator answered %d: %v", resp.StatusCode, err)
	}
	return body
}

// decodeProjectsSeeds are documents that exercise every branch.
var decodeProjectsSeeds = []string{
	`[]`, `null`, ` [ null , {} ] `, `{}`, `"x"`, `[1]`, `[{"id":1}] x`, `[{"id":1}`,
	`[{"id":7,"name":"A","path":"a","path_with_namespace":"g/a","namespace":{"full_path":"g","id":3},` +
		`"default_branch":"main","visibility":"internal","http_url_to_repo":"https://h/g/a.git","web_url":"https://h/g/a",` +
		`"avatar_url":null,"archived":true,"last_activity_at":"2024-05-01T10:11:12.123Z",` +
		`"permissions":{"project_access":{"access_level":30,"notification_level":3},"group_access":{"access_level":40}}}]`,
	`[{"ID":1,"Name":"upper","NAMESPACE":{"Full_Path":"x"},"permissions":{"Project_Access":{"ACCESS_LEVEL":20}}}]`,
	`[{"id":1,"id":2,"namespace":{"full_path":"a"},"namespace":{"x":1}}]`,
	`[{"permissions":{"project_access":{"access_level":30}},"permissions":{"project_access":null}}]`,
	`[{"permissions":{"project_access":{"access_level":30}},"permissions":{"project_access":{}}}]`,
	`[{"last_activity_at":"2024-05-01T10:11:12Z","last_activity_at":null}]`,
	`[{"last_activity_at":"not a time"}]`, `[{"last_activity_at":"2024-05-01T10:11:12\u005a"}]`,
	`[{"id":"7"}]`, `[{"id":1.5}]`, `[{"id":1e2}]`, `[{"id":99999999999999999999}]`, `[{"archived":"true"}]`,
	`[{"name":"caf\u00e9 \ud83d\ude00 \ud800"}]`, "[{\"name\":\"\xff\xfe\"}]", `[{"namespace":[]}]`,
	`[{"unknown":{"deep":[1,2,{"a":[null,true,false,"s"]}]},"id":3}]`, `[{"id":-4}]`,
}

func TestDecodeProjectsMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	docs := map[string][]byte{
		"simulator page":               simProjectsPage(t, 30),
		"GitLab answer (drone go-scm)": fixtures.Read("drone-go-scm/api/repos.json"),
	}
	for i, s := range decodeProjectsSeeds {
		docs["seed "+string(rune('a'+i))] = []byte(s)
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			compareDecoders(t, doc)
		})
	}

	got, err := decodeProjects(docs["simulator page"])
	if err != nil || len(got) != 30 || got[0].Namespace.FullPath != "team/sub" || got[0].Permissions.ProjectAccess == nil ||
		got[0].LastActivityAt == nil || got[0].HTTPURLToRepo == "" {
		t.Fatalf("simulator page decoded to %d projects (%v): %+v", len(got), err, got)
	}
}

// compareDecoders fails when decodeProjects and json.Unmarshal disagree on
// doc: both must fail, or both succeed with equal projects.
func compareDecoders(t *testing.T, doc []byte) {
	t.Helper()
	var want []glProject
	wantErr := json.Unmarshal(doc, &want)
	got, gotErr := decodeProjects(doc)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("%.200q: encoding/json says %v, decodeProjects says %v", doc, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%.200q:\n got %+v\nwant %+v", doc, got, want)
	}
}

func FuzzDecodeProjects(f *testing.F) {
	for _, s := range decodeProjectsSeeds {
		f.Add([]byte(s))
	}
	f.Add(fixtures.Read("drone-go-scm/api/repos.json"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		compareDecoders(t, doc)
	})
}

// BenchmarkDecodeProjects decodes a full page of 100 projects.
func BenchmarkDecodeProjects(b *testing.B) {
	page := simProjectsPage(b, 100)
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			var out []glProject
			if err := json.Unmarshal(page, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeProjects", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			if _, err := decodeProjects(page); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRepositoryMapping(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	p := glProject{ID: 42, Path: "app", PathWithNamespace: "g/app", Visibility: "internal", LastActivityAt: &at}
	p.Permissions.ProjectAccess = &glAccess{AccessLevel: 20}
	p.Permissions.GroupAccess = &glAccess{AccessLevel: 50}
	r := p.repository(30)
	if r.GetName() != "app" || !r.GetPrivate() || r.GetAccessLevel().String() != "ACCESS_LEVEL_ADMIN" || r.GetLastActivityAt() != at.Unix() {
		t.Fatalf("mapped to %v", r)
	}
	p.Permissions.ProjectAccess, p.Permissions.GroupAccess = nil, nil
	p.Visibility = "public"
	if r := p.repository(40); r.GetPrivate() || r.GetAccessLevel().String() != "ACCESS_LEVEL_MAINTAIN" {
		t.Fatalf("without permissions the listing's floor applies: %v", r)
	}
	for level, want := range map[int64]string{0: "UNSPECIFIED", 10: "READ", 15: "READ", 20: "READ", 30: "WRITE", 40: "MAINTAIN", 50: "ADMIN", 60: "ADMIN"} {
		if got := accessLevel(level).String(); !strings.HasSuffix(got, want) {
			t.Errorf("accessLevel(%d) = %s, want %s", level, got, want)
		}
	}
}
