package gitlabsim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// GitLab's pagination limits (doc/api/rest/_index.md, doc/api/projects.md).
const (
	defaultPerPage = 20
	maxPerPage     = 100
	// countLimit: above this many records GitLab leaves out x-total,
	// x-total-pages and the rel="last" link.
	countLimit = 10000
	// maxProjectOffset is the largest offset GET /projects serves with
	// offset pagination.
	maxProjectOffset = 50000
)

// secretParams never appear in the links the simulator writes.
var secretParams = []string{"private_token", "access_token"}

// offsetParams are a request's page and per_page, validated like Grape does.
type offsetParams struct {
	page    int
	perPage int
}

func (o offsetParams) offset() int { return (o.page - 1) * o.perPage }

// parseOffsetParams reads page (default 1) and per_page (default 20,
// clamped to 100). It answers 400 and reports false on a value that is not
// an integer, the way Grape does.
func parseOffsetParams(w http.ResponseWriter, q url.Values) (offsetParams, bool) {
	o := offsetParams{page: 1, perPage: defaultPerPage}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			apiError(w, http.StatusBadRequest, "page is invalid")
			return o, false
		}
		if n > 0 {
			o.page = n
		}
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			apiError(w, http.StatusBadRequest, "per_page is invalid")
			return o, false
		}
		switch {
		case n > maxPerPage:
			o.perPage = maxPerPage
		case n > 0:
			o.perPage = n
		}
	}
	return o, true
}

// offsetResult is what a page of an offset-paginated list found.
type offsetResult struct {
	// total is the number of matching records; meaningful when totalKnown.
	total int
	// totalKnown is false when more than countLimit records match.
	totalKnown bool
	// hasNext is true when records follow this page.
	hasNext bool
}

// setOffsetHeaders writes GitLab's offset pagination headers, as in the
// fixture gitlab_doc_pagination_offset.headers: Link (prev, next, first,
// last), x-next-page (empty on the last page), x-page, x-per-page,
// x-prev-page (empty on the first), x-total and x-total-pages. Above
// countLimit records x-total, x-total-pages and rel="last" are left out.
func (s *Server) setOffsetHeaders(w http.ResponseWriter, r *http.Request, o offsetParams, res offsetResult) {
	h := w.Header()
	var links []string
	link := func(page int, rel string) {
		links = append(links, "<"+s.offsetLink(r, page, o.perPage)+`>; rel="`+rel+`"`)
	}
	totalPages := 0
	if res.totalKnown {
		totalPages = max(1, (res.total+o.perPage-1)/o.perPage)
	}
	if o.page > 1 {
		link(o.page-1, "prev")
	}
	if res.hasNext {
		link(o.page+1, "next")
	}
	link(1, "first")
	if res.totalKnown {
		link(totalPages, "last")
	}
	h.Set("Link", strings.Join(links, ", "))
	next, prev := "", ""
	if res.hasNext {
		next = strconv.Itoa(o.page + 1)
	}
	if o.page > 1 {
		prev = strconv.Itoa(o.page - 1)
	}
	h.Set("X-Next-Page", next)
	h.Set("X-Page", strconv.Itoa(o.page))
	h.Set("X-Per-Page", strconv.Itoa(o.perPage))
	h.Set("X-Prev-Page", prev)
	if res.totalKnown {
		h.Set("X-Total", strconv.Itoa(res.total))
		h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	}
}

// offsetLink is the request's URL on the simulator's base URL with page and
// per_page replaced; parameters are sorted by name like Rails' to_query.
func (s *Server) offsetLink(r *http.Request, page, perPage int) string {
	q := r.URL.Query()
	for _, k := range secretParams {
		q.Del(k)
	}
	q.Set("page", strconv.Itoa(page))
	q.Set("per_page", strconv.Itoa(perPage))
	return s.BaseURL() + r.URL.EscapedPath() + "?" + q.Encode()
}

// setKeysetNextLink writes the only header keyset pagination has: a Link
// with rel="next" carrying the request's own parameters, in their order,
// plus key=value (id_after or id_before).
func (s *Server) setKeysetNextLink(w http.ResponseWriter, r *http.Request, key string, value int64) {
	var parts []string
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		if kv == "" {
			continue
		}
		name, _, _ := strings.Cut(kv, "=")
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
		switch name {
		case "id_after", "id_before", "private_token", "access_token":
			continue
		}
		parts = append(parts, kv)
	}
	parts = append(parts, key+"="+strconv.FormatInt(value, 10))
	w.Header().Set("Link", "<"+s.BaseURL()+r.URL.EscapedPath()+"?"+strings.Join(parts, "&")+`>; rel="next"`)
}

// paginateCount offset-paginates a list of n records that are all in
// memory: it writes the headers and returns the page's bounds.
func (s *Server) paginateCount(w http.ResponseWriter, r *http.Request, n int) (lo, hi int, ok bool) {
	o, ok := parseOffsetParams(w, r.URL.Query())
	if !ok {
		return 0, 0, false
	}
	lo = min(o.offset(), n)
	hi = min(lo+o.perPage, n)
	s.setOffsetHeaders(w, r, o, offsetResult{total: n, totalKnown: n <= countLimit, hasNext: hi < n})
	return lo, hi, true
}
