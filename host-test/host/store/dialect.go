package store

import (
	"strconv"
	"strings"
)

// dialect is what differs between the databases the store runs on. Queries
// are written once with ? placeholders and portable SQL; rebind adapts them.
type dialect struct {
	name string
	// migrations is the folder under migrations/ holding this dialect's schema.
	migrations string
	rebind     func(string) string
	// isConflict reports a unique-constraint violation.
	isConflict func(error) bool
}

func identity(s string) string { return s }

// dollarPlaceholders rewrites ? placeholders to $1, $2, ... (PostgreSQL).
// Queries in this package hold no ? inside string literals.
func dollarPlaceholders(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
