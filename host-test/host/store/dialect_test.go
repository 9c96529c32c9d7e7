package store

import "testing"

func TestDollarPlaceholders(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"none":  {in: `SELECT 1`, want: `SELECT 1`},
		"three": {in: `UPDATE t SET a = ?, b = ? WHERE id = ?`, want: `UPDATE t SET a = $1, b = $2 WHERE id = $3`},
		"many":  {in: `IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, want: `IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`},
	}
	for name, tc := range tests {
		if got := dollarPlaceholders(tc.in); got != tc.want {
			t.Errorf("%s: dollarPlaceholders(%q) = %q, want %q", name, tc.in, got, tc.want)
		}
	}
}
