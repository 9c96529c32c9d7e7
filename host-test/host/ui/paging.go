package ui

import (
	"net/url"
	"strconv"
)

// pageSize is how many rows a list page shows.
const pageSize = 20

// pager is the paging of one list: which rows are shown and the links to
// the neighbouring pages.
type pager struct {
	Page     int
	From, To int64
	Total    int64
	PrevURL  string
	NextURL  string
}

// pageOf reads ?page= (1-based, default 1).
func pageOf(q url.Values) int {
	p, err := strconv.Atoi(q.Get("page"))
	if err != nil || p < 1 {
		return 1
	}
	return p
}

// offsetOf is the API offset of a page.
func offsetOf(page int) int64 { return int64(page-1) * pageSize }

// newPager builds the paging of page (1-based) of total rows, shown
// count of them, with links to base plus the query q and page=N.
func newPager(base string, q url.Values, page int, shown int, total int64) pager {
	p := pager{Page: page, Total: total}
	if shown > 0 {
		p.From = offsetOf(page) + 1
		p.To = offsetOf(page) + int64(shown)
	}
	link := func(n int) string {
		qq := url.Values{}
		for k, v := range q {
			if k != "page" && len(v) > 0 && v[0] != "" {
				qq[k] = v
			}
		}
		if n > 1 {
			qq.Set("page", strconv.Itoa(n))
		}
		if len(qq) == 0 {
			return base
		}
		return base + "?" + qq.Encode()
	}
	if page > 1 {
		p.PrevURL = link(page - 1)
	}
	if offsetOf(page)+int64(shown) < total {
		p.NextURL = link(page + 1)
	}
	return p
}
