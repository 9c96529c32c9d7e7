package gitlabsim

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// projectQuery is a validated GET /api/v4/projects request.
type projectQuery struct {
	membership       bool
	owned            bool
	simple           bool
	archived         *bool
	minAccess        int
	search           string
	searchNamespaces bool
	visibility       string
	orderBy          string
	asc              bool
	idAfter          int64
	idBefore         int64
	keyset           bool
}

// grapeBool parses a Grape Boolean parameter.
func grapeBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1", "t", "yes", "y":
		return true, true
	case "false", "0", "f", "no", "n":
		return false, true
	}
	return false, false
}

// parseProjectQuery validates the parameters the way GitLab's Grape
// declarations do; on a bad value it answers 400 and reports false.
func parseProjectQuery(w http.ResponseWriter, q url.Values) (projectQuery, bool) {
	pq := projectQuery{orderBy: "created_at"}
	boolParam := func(name string, dst *bool) bool {
		v := q.Get(name)
		if v == "" {
			return true
		}
		b, ok := grapeBool(v)
		if !ok {
			apiError(w, http.StatusBadRequest, name+" is invalid")
			return false
		}
		*dst = b
		return true
	}
	if !boolParam("membership", &pq.membership) || !boolParam("owned", &pq.owned) ||
		!boolParam("simple", &pq.simple) || !boolParam("search_namespaces", &pq.searchNamespaces) {
		return pq, false
	}
	if v := q.Get("archived"); v != "" {
		b, ok := grapeBool(v)
		if !ok {
			apiError(w, http.StatusBadRequest, "archived is invalid")
			return pq, false
		}
		pq.archived = &b
	}
	if v := q.Get("min_access_level"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			apiError(w, http.StatusBadRequest, "min_access_level is invalid")
			return pq, false
		}
		switch n {
		case GuestAccess, PlannerAccess, ReporterAccess, DeveloperAccess, MaintainerAccess, OwnerAccess:
			pq.minAccess = n
		default:
			apiError(w, http.StatusBadRequest, "min_access_level does not have a valid value")
			return pq, false
		}
	}
	pq.search = strings.ToLower(q.Get("search"))
	switch v := q.Get("visibility"); v {
	case "", "public", "internal", "private":
		pq.visibility = v
	default:
		apiError(w, http.StatusBadRequest, "visibility does not have a valid value")
		return pq, false
	}
	switch v := q.Get("order_by"); v {
	case "":
	case "id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity":
		pq.orderBy = v
	default:
		apiError(w, http.StatusBadRequest, "order_by does not have a valid value")
		return pq, false
	}
	switch v := strings.ToLower(q.Get("sort")); v {
	case "", "desc":
	case "asc":
		pq.asc = true
	default:
		apiError(w, http.StatusBadRequest, "sort does not have a valid value")
		return pq, false
	}
	for name, dst := range map[string]*int64{"id_after": &pq.idAfter, "id_before": &pq.idBefore} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				apiError(w, http.StatusBadRequest, name+" is invalid")
				return pq, false
			}
			*dst = n
		}
	}
	pq.keyset = q.Get("pagination") == "keyset"
	return pq, true
}

// byID reports whether the order is the creation order. Projects are
// created in ID order, so created_at ordering is ID ordering (GitLab breaks
// created_at ties by ID).
func (pq projectQuery) byID() bool {
	return pq.orderBy == "id" || pq.orderBy == "created_at" || pq.orderBy == "similarity"
}

// handleListProjects serves GET /api/v4/projects with GitLab's filters and
// either offset pagination (the default) or keyset pagination
// (pagination=keyset, which needs order_by=id).
//
// Cost: candidates are kept sorted by ID (all projects, or the user's member
// projects), id_after/id_before are binary searches, and a page in ID order
// stops scanning as soon as it has its records and knows whether the total
// is above 10,000; a keyset page scans only from its cursor.
func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r, false)
	if !ok {
		return
	}
	if !p.anonymous() && !s.requireAPIScope(w, r, p) {
		return
	}
	q := r.URL.Query()
	pq, ok := parseProjectQuery(w, q)
	if !ok {
		return
	}
	o, ok := parseOffsetParams(w, q)
	if !ok {
		return
	}
	if pq.keyset && pq.orderBy != "id" {
		apiError(w, http.StatusMethodNotAllowed, "Keyset pagination is not yet available for this type of request")
		return
	}
	if !pq.keyset && o.page*o.perPage > maxProjectOffset {
		apiError(w, http.StatusMethodNotAllowed, "Offset pagination has a maximum allowed offset of 50000 "+
			"for requests that return objects of type Project. Remaining records can be retrieved using keyset pagination.")
		return
	}

	// Render under the read lock, write after it: a slow client must not
	// hold the simulator's state.
	s.mu.RLock()
	body := s.listProjectsLocked(w, r, p, pq, o)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, body)
}

// listProjectsLocked selects one page, writes the pagination headers and
// returns the page's JSON value. s.mu must be held.
func (s *Server) listProjectsLocked(w http.ResponseWriter, r *http.Request, p principal, pq projectQuery, o offsetParams) any {
	candidates := s.state.projects
	if pq.membership || pq.owned || pq.minAccess > 0 {
		candidates = s.state.memberProjects[p.userID]
		if p.anonymous() {
			candidates = nil
		}
	}
	// Restrict to id_after < id < id_before by binary search.
	lo, hi := 0, len(candidates)
	if pq.idAfter > 0 {
		lo = sort.Search(len(candidates), func(i int) bool { return candidates[i].id > pq.idAfter })
	}
	if pq.idBefore > 0 {
		hi = sort.Search(len(candidates), func(i int) bool { return candidates[i].id >= pq.idBefore })
	}
	if hi < lo {
		hi = lo
	}
	candidates = candidates[lo:hi]
	match := func(proj *project) bool { return s.projectMatchesLocked(proj, p.userID, pq) }

	var page []*project
	switch {
	case pq.keyset:
		page = scanByID(candidates, pq.asc, o.perPage, match)
		if len(page) == o.perPage {
			last := page[len(page)-1].id
			if pq.asc {
				s.setKeysetNextLink(w, r, "id_after", last)
			} else {
				s.setKeysetNextLink(w, r, "id_before", last)
			}
		}
	case pq.byID():
		var res offsetResult
		page, res = pageByID(candidates, pq.asc, o, match)
		s.setOffsetHeaders(w, r, o, res)
	default:
		var all []*project
		for _, proj := range candidates {
			if match(proj) {
				all = append(all, proj)
			}
		}
		sortProjects(all, pq.orderBy, pq.asc)
		from := min(o.offset(), len(all))
		to := min(from+o.perPage, len(all))
		page = all[from:to]
		s.setOffsetHeaders(w, r, o, offsetResult{total: len(all), totalKnown: len(all) <= countLimit, hasNext: to < len(all)})
	}

	if pq.simple {
		out := make([]simpleProjectJSON, 0, len(page))
		for _, proj := range page {
			out = append(out, s.simpleProjectJSONLocked(proj))
		}
		return out
	}
	out := make([]projectJSON, 0, len(page))
	for _, proj := range page {
		out = append(out, s.projectJSONLocked(proj, p.userID))
	}
	return out
}

// projectMatchesLocked applies every filter except the ID range.
func (s *Server) projectMatchesLocked(p *project, userID int64, pq projectQuery) bool {
	if !s.canSeeLocked(p, userID) {
		return false
	}
	if pq.membership || pq.minAccess > 0 || pq.owned {
		lvl := p.members[userID]
		if lvl == 0 || lvl < pq.minAccess || (pq.owned && lvl < OwnerAccess) {
			return false
		}
	}
	if pq.archived != nil && p.archived != *pq.archived {
		return false
	}
	if pq.visibility != "" && p.visibility != pq.visibility {
		return false
	}
	if pq.search != "" {
		hay := []string{p.name, p.path, p.description}
		if pq.searchNamespaces {
			hay = append(hay, p.fullPath)
		}
		found := false
		for _, h := range hay {
			if strings.Contains(strings.ToLower(h), pq.search) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// scanByID walks candidates (sorted by ascending ID) in the requested
// direction and returns the first limit matches.
func scanByID(candidates []*project, asc bool, limit int, match func(*project) bool) []*project {
	var out []*project
	n := len(candidates)
	for i := 0; i < n && len(out) < limit; i++ {
		proj := candidates[i]
		if !asc {
			proj = candidates[n-1-i]
		}
		if match(proj) {
			out = append(out, proj)
		}
	}
	return out
}

// pageByID returns one offset page in ID order. It counts matches only as
// far as needed: up to the end of the page, and beyond it until the total
// is known or known to exceed countLimit.
func pageByID(candidates []*project, asc bool, o offsetParams, match func(*project) bool) ([]*project, offsetResult) {
	start, end := o.offset(), o.offset()+o.perPage
	var out []*project
	count := 0
	n := len(candidates)
	for i := 0; i < n; i++ {
		proj := candidates[i]
		if !asc {
			proj = candidates[n-1-i]
		}
		if !match(proj) {
			continue
		}
		if count >= start && count < end {
			out = append(out, proj)
		}
		count++
		if count > end && count > countLimit {
			return out, offsetResult{hasNext: true}
		}
	}
	return out, offsetResult{total: count, totalKnown: count <= countLimit, hasNext: count > end}
}

// sortProjects orders by a non-ID key, ties broken by ID in the same
// direction, as GitLab's keyset-friendly orderings do.
func sortProjects(ps []*project, orderBy string, asc bool) {
	key := func(a, b *project) int {
		switch orderBy {
		case "name":
			return cmp.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
		case "path":
			return cmp.Compare(strings.ToLower(a.path), strings.ToLower(b.path))
		case "updated_at":
			return a.updatedAt.Compare(b.updatedAt)
		case "last_activity_at":
			return a.lastActivityAt.Compare(b.lastActivityAt)
		}
		return 0
	}
	slices.SortStableFunc(ps, func(a, b *project) int {
		c := key(a, b)
		if c == 0 {
			c = cmp.Compare(a.id, b.id)
		}
		if !asc {
			c = -c
		}
		return c
	})
}
