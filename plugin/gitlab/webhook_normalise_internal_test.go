package gitlab

import (
	"testing"
	"time"
)

// strictUnix is what encoding/json makes of a timestamp: time.Time's
// strict RFC 3339 parser.
func strictUnix(s string) (int64, bool) {
	var t time.Time
	if err := t.UnmarshalText([]byte(s)); err != nil {
		return 0, false
	}
	return t.Unix(), true
}

var timestampSeeds = []string{
	"2011-12-12T14:27:31+02:00", "2017-12-10T08:28:36-08:00", "2017-09-26T16:12:57Z", "1970-01-01T00:00:00Z",
	"1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "0000-03-01T00:00:00Z", "9999-12-31T23:59:59-23:59",
	"2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2100-02-29T12:00:00Z", "2000-02-29T12:00:00+14:00", "2024-04-31T00:00:00Z",
	"2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z",
	"2024-01-01T23:59:60Z", "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+23:60", "2024-01-01t00:00:00z",
	"2024-01-01T00:00:00.5Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00", "2024-1-01T00:00:00Z", "+024-01-01T00:00:00Z",
	"2024-01-01T00:00:00+0100", "2024-01-01T00:00:00-00:00", "2024-01-01T0a:00:00Z", "",
}

func TestPlainRFC3339MatchesTime(t *testing.T) {
	t.Parallel()
	for _, s := range timestampSeeds {
		checkPlainRFC3339(t, s)
	}
	// GitLab's own forms take the fast path.
	for _, s := range []string{"2011-12-12T14:27:31+02:00", "2017-12-10T08:28:36-08:00", "2017-09-26T16:12:57Z", "2024-02-29T12:00:00Z"} {
		if _, ok := plainRFC3339(s); !ok {
			t.Fatalf("plainRFC3339(%q) fell back to time", s)
		}
	}
}

func FuzzPlainRFC3339MatchesTime(f *testing.F) {
	for _, s := range timestampSeeds {
		f.Add(s)
	}
	f.Fuzz(checkPlainRFC3339)
}

// checkPlainRFC3339 requires the fast path to agree with time wherever it
// answers, and unixTime to agree with time everywhere.
func checkPlainRFC3339(t *testing.T, s string) {
	want, wantOK := strictUnix(s)
	if got, ok := plainRFC3339(s); ok && (!wantOK || got != want) {
		t.Fatalf("plainRFC3339(%q) = %d; time says %d (ok=%v)", s, got, want, wantOK)
	}
	if got := unixTime(s); got != want {
		t.Fatalf("unixTime(%q) = %d, want %d", s, got, want)
	}
}
