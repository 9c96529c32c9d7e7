package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
)

// TestDriverPrintsEveryFigure runs the whole driver in its smoke mode (real
// plugin, peer plugin, echo server, simulator and reference host; a few
// iterations each) and checks that every figure the issue names is printed
// as a finite BENCH line, and that the table shows every goal's verdict. It
// asserts no timing.
func TestDriverPrintsEveryFigure(t *testing.T) {
	bins, dir := sharedBinaries(t)
	var progress bytes.Buffer
	cfg := Config{Quick: true, Progress: &progress}
	report, err := runWith(context.Background(), cfg, bins, dir)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	var lines, table bytes.Buffer
	if err := report.WriteLines(&lines); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	got := ParseLines(lines.String())
	for _, name := range RequiredFigures() {
		v, ok := got[name]
		switch {
		case !ok:
			t.Errorf("BENCH %s is missing", name)
		case math.IsNaN(v) || math.IsInf(v, 0):
			t.Errorf("BENCH %s = %v, want a finite value", name, v)
		}
	}
	for _, f := range report.Figures() {
		if f.Goal != nil && !strings.Contains(table.String(), f.Label) {
			t.Errorf("the table lacks %q", f.Label)
		}
	}
	if n := strings.Count(table.String(), "goal "); n < 6 {
		t.Errorf("the table shows %d goal verdicts, want one per goal (at least 6):\n%s", n, table.String())
	}
}
