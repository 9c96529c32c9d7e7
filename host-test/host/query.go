package host

import (
	"net/url"
	"strconv"
)

// Page sizes of list endpoints: default 20, clamped to 1..100 (as Oore).
const (
	defaultLimit = 20
	maxLimit     = 100
	maxQuery     = 256
)

// page reads limit, offset and q. A limit outside 1..100 is clamped; a value
// that is not an integer, or a negative offset, is a 400 naming the parameter.
func page(v url.Values) (limit, offset int64, q string, err *apiError) {
	limit = defaultLimit
	if s := v.Get("limit"); s != "" {
		n, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil {
			return 0, 0, "", fieldError("limit", "must be an integer")
		}
		limit = min(max(n, 1), maxLimit)
	}
	if s := v.Get("offset"); s != "" {
		n, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil || n < 0 {
			return 0, 0, "", fieldError("offset", "must be an integer of 0 or more")
		}
		offset = n
	}
	q = v.Get("q")
	if len(q) > maxQuery {
		return 0, 0, "", fieldError("q", "must be at most 256 characters")
	}
	return limit, offset, q, nil
}
