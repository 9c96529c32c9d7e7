package gitlabsim_test

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim"
)

// bulk starts a simulator with one user owning n projects.
func bulk(t *testing.T, n int) (*gitlabsim.Server, string, []int64) {
	t.Helper()
	s := gitlabsim.NewTestServer(t, gitlabsim.Options{})
	u := s.AddUser("bulk", "Bulk Owner")
	tok := s.AddPersonalAccessToken(u.ID, "t", []string{"read_api"}, nil, false)
	return s, tok, s.SeedProjects(u.ID, n, "")
}

func headerPresent(h http.Header, name string) (string, bool) {
	v, ok := h[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	return v[0], true
}

func TestOffsetPaginationHeadersExactly(t *testing.T) {
	t.Parallel()
	s, tok, _ := bulk(t, 8)
	a := get(t, s, "/api/v4/projects?membership=true&order_by=id&sort=asc&per_page=3&page=2", tok)
	base := s.URL + "/api/v4/projects?membership=true&order_by=id"
	link := func(page int) string { return base + "&page=" + strconv.Itoa(page) + "&per_page=3&sort=asc" }
	want := map[string]string{
		"Link":          "<" + link(1) + `>; rel="prev", <` + link(3) + `>; rel="next", <` + link(1) + `>; rel="first", <` + link(3) + `>; rel="last"`,
		"X-Next-Page":   "3",
		"X-Page":        "2",
		"X-Per-Page":    "3",
		"X-Prev-Page":   "1",
		"X-Total":       "8",
		"X-Total-Pages": "3",
	}
	for k, v := range want {
		if got := a.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var ps []listedProject
	a.json(t, &ps)
	if len(ps) != 3 {
		t.Errorf("page has %d projects", len(ps))
	}

	last := get(t, s, "/api/v4/projects?membership=true&order_by=id&sort=asc&per_page=3&page=3", tok)
	if v, ok := headerPresent(last.header, "X-Next-Page"); !ok || v != "" {
		t.Errorf("last page X-Next-Page = %q (present %v), want present and empty", v, ok)
	}
	if got := last.header.Get("Link"); got != "<"+link(2)+`>; rel="prev", <`+link(1)+`>; rel="first", <`+link(3)+`>; rel="last"` {
		t.Errorf("last page Link = %q", got)
	}
	last.json(t, &ps)
	if len(ps) != 2 {
		t.Errorf("last page has %d projects", len(ps))
	}
	first := get(t, s, "/api/v4/projects?membership=true&per_page=3", tok)
	if v, ok := headerPresent(first.header, "X-Prev-Page"); !ok || v != "" {
		t.Errorf("first page X-Prev-Page = %q (present %v)", v, ok)
	}
}

func TestPerPageDefaultsTo20AndIsClampedTo100(t *testing.T) {
	t.Parallel()
	s, tok, _ := bulk(t, 150)
	a := get(t, s, "/api/v4/projects", tok)
	var ps []listedProject
	a.json(t, &ps)
	if len(ps) != 20 || a.header.Get("X-Per-Page") != "20" {
		t.Errorf("default: %d projects, X-Per-Page %s", len(ps), a.header.Get("X-Per-Page"))
	}
	a = get(t, s, "/api/v4/projects?per_page=1000", tok)
	a.json(t, &ps)
	if len(ps) != 100 || a.header.Get("X-Per-Page") != "100" || a.header.Get("X-Total-Pages") != "2" {
		t.Errorf("clamped: %d projects, X-Per-Page %s, X-Total-Pages %s", len(ps), a.header.Get("X-Per-Page"), a.header.Get("X-Total-Pages"))
	}
	if got := a.header.Get("Link"); !regexp.MustCompile(`page=2&per_page=100>; rel="next"`).MatchString(got) {
		t.Errorf("Link = %q", got)
	}
}

func TestTotalsAreLeftOutAbove10000Records(t *testing.T) {
	t.Parallel()
	s, tok, ids := bulk(t, 10001)
	a := get(t, s, "/api/v4/projects?membership=true&simple=true&per_page=100", tok)
	for _, h := range []string{"X-Total", "X-Total-Pages"} {
		if v, ok := headerPresent(a.header, h); ok {
			t.Errorf("%s present (%q) above 10,000 records", h, v)
		}
	}
	link := a.header.Get("Link")
	if regexp.MustCompile(`rel="last"`).MatchString(link) || !regexp.MustCompile(`rel="next"`).MatchString(link) {
		t.Errorf("Link = %q", link)
	}
	if a.header.Get("X-Next-Page") != "2" {
		t.Errorf("X-Next-Page = %q", a.header.Get("X-Next-Page"))
	}
	var ps []listedProject
	a.json(t, &ps)
	if len(ps) != 100 || ps[0].ID != ids[len(ids)-1] {
		t.Errorf("first page: %d projects, first id %d", len(ps), ps[0].ID)
	}
	// With one project fewer matching, the totals come back.
	b := get(t, s, "/api/v4/projects?membership=true&simple=true&per_page=100&id_after="+itoa(ids[0]), tok)
	if b.header.Get("X-Total") != "10000" || b.header.Get("X-Total-Pages") != "100" {
		t.Errorf("10,000 records: X-Total %q X-Total-Pages %q", b.header.Get("X-Total"), b.header.Get("X-Total-Pages"))
	}

	// Walking every page is cheap, and yields every project exactly once.
	start := time.Now()
	seen := map[int64]bool{}
	for page := 1; ; page++ {
		a := get(t, s, "/api/v4/projects?membership=true&simple=true&order_by=id&sort=asc&per_page=100&page="+strconv.Itoa(page), tok)
		a.json(t, &ps)
		for _, p := range ps {
			if seen[p.ID] {
				t.Fatalf("project %d twice", p.ID)
			}
			seen[p.ID] = true
		}
		if a.header.Get("X-Next-Page") == "" {
			break
		}
	}
	if len(seen) != len(ids) {
		t.Fatalf("walked %d projects, want %d", len(seen), len(ids))
	}
	t.Logf("offset walk of %d projects: %v", len(ids), time.Since(start))
}

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

func TestKeysetPagination(t *testing.T) {
	t.Parallel()
	s, tok, ids := bulk(t, 120)
	url := "/api/v4/projects?pagination=keyset&per_page=50&order_by=id&sort=asc"
	a := get(t, s, url, tok)
	var ps []listedProject
	a.json(t, &ps)
	if want := "<" + s.URL + url + "&id_after=" + itoa(ps[49].ID) + `>; rel="next"`; a.header.Get("Link") != want {
		t.Errorf("Link = %q, want %q", a.header.Get("Link"), want)
	}
	for _, h := range []string{"X-Total", "X-Total-Pages", "X-Next-Page", "X-Page", "X-Per-Page", "X-Prev-Page"} {
		if _, ok := headerPresent(a.header, h); ok {
			t.Errorf("keyset page has %s", h)
		}
	}
	var got []int64
	for {
		for _, p := range ps {
			got = append(got, p.ID)
		}
		m := nextLink.FindStringSubmatch(a.header.Get("Link"))
		if m == nil {
			break
		}
		a = get(t, s, m[1][len(s.URL):], tok)
		a.json(t, &ps)
	}
	if len(got) != 120 || got[0] != ids[0] || got[119] != ids[119] {
		t.Fatalf("keyset walk got %d ids (%v...)", len(got), got[:3])
	}

	// Descending: id_before; a full last page is followed by an empty one.
	s2, tok2, ids2 := bulk(t, 100)
	desc := "/api/v4/projects?pagination=keyset&per_page=50&order_by=id&sort=desc"
	a = get(t, s2, desc, tok2)
	a.json(t, &ps)
	if ps[0].ID != ids2[99] || a.header.Get("Link") != "<"+s2.URL+desc+"&id_before="+itoa(ids2[50])+`>; rel="next"` {
		t.Fatalf("desc first page: first %d, Link %q", ps[0].ID, a.header.Get("Link"))
	}
	a = get(t, s2, desc+"&id_before="+itoa(ids2[50]), tok2)
	a.json(t, &ps)
	if len(ps) != 50 || a.header.Get("Link") == "" {
		t.Fatalf("desc second page: %d, Link %q", len(ps), a.header.Get("Link"))
	}
	a = get(t, s2, desc+"&id_before="+itoa(ids2[0]), tok2)
	if string(a.body) != "[]" || a.header.Get("Link") != "" {
		t.Fatalf("end: %s, Link %q", a.body, a.header.Get("Link"))
	}
}

func TestKeysetNeedsOrderByID(t *testing.T) {
	t.Parallel()
	s, tok, _ := bulk(t, 3)
	for _, q := range []string{"?pagination=keyset&per_page=2", "?pagination=keyset&order_by=name&sort=asc"} {
		wantBody(t, get(t, s, "/api/v4/projects"+q, tok), http.StatusMethodNotAllowed,
			`{"error":"Keyset pagination is not yet available for this type of request"}`)
	}
}

func TestOffsetPaginationStopsAt50000(t *testing.T) {
	t.Parallel()
	s, tok, _ := bulk(t, 1)
	a := get(t, s, "/api/v4/projects?per_page=100&page=501", tok)
	if a.status != http.StatusMethodNotAllowed {
		t.Errorf("page 501: %d %s", a.status, a.body)
	}
	if a := get(t, s, "/api/v4/projects?per_page=100&page=500", tok); a.status != 200 || string(a.body) != "[]" {
		t.Errorf("page 500: %d %s", a.status, a.body)
	}
}
