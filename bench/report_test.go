package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestReportLinesRoundTrip(t *testing.T) {
	t.Parallel()
	r := &Report{Machine: "test machine"}
	r.add("a", Figure{Name: "x_us", Value: 12.345, Unit: "us", Label: "x"})
	r.add("b", Figure{Name: "ratio", Value: 4.5, Unit: "x", Label: "a ratio", Goal: &Goal{Bound: 3}})
	r.add("a", Figure{Name: "missing_ms", Value: math.NaN(), Unit: "ms", Label: "missing"})
	var lines bytes.Buffer
	if err := r.WriteLines(&lines); err != nil {
		t.Fatal(err)
	}
	want := "BENCH x_us 12.3 us\nBENCH missing_ms NaN ms\nBENCH ratio 4.50 x\n"
	if lines.String() != want {
		t.Errorf("lines:\n%s\nwant:\n%s", lines.String(), want)
	}
	got := ParseLines("noise\n" + lines.String() + "BENCH broken\n")
	if len(got) != 3 || got["x_us"] != 12.3 || got["ratio"] != 4.5 || !math.IsNaN(got["missing_ms"]) {
		t.Errorf("ParseLines = %v", got)
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"machine: test machine", "== a", "== b", "goal ≥ 3: MET"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

func TestGoalMet(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		goal Goal
		v    float64
		want bool
	}{
		"at most, below":  {Goal{AtMost: true, Bound: 6}, 5.9, true},
		"at most, equal":  {Goal{AtMost: true, Bound: 6}, 6, true},
		"at most, above":  {Goal{AtMost: true, Bound: 6}, 6.1, false},
		"at least, above": {Goal{Bound: 3}, 3.2, true},
		"at least, below": {Goal{Bound: 3}, 2.9, false},
		"NaN never meets": {Goal{AtMost: true, Bound: 6}, math.NaN(), false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.goal.Met(tc.v); got != tc.want {
				t.Errorf("%v.Met(%v) = %v, want %v", tc.goal, tc.v, got, tc.want)
			}
		})
	}
}
