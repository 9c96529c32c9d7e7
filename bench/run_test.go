package bench

import (
	"bytes"
	"context"
	"math"
	"os/exec"
	"path/filepath"
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

// TestCommandPrintsBenchLines runs the oore-bench command itself (one quick
// stage) and checks its output: the table, a finite BENCH line for what the
// stage measured, NaN for what it did not.
func TestCommandPrintsBenchLines(t *testing.T) {
	_, dir := sharedBinaries(t)
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "oore-bench")
	build := exec.Command(goTool(), "build", "-o", bin, "./bench/cmd/oore-bench")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build oore-bench: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-quick", "-q", "-only", "coldstart", "-plugin-dir", dir)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("oore-bench: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	got := ParseLines(out)
	for _, name := range []string{"cold_start_ms", "cold_start_plain_ms", "cold_start_vs_plain_ratio", "cold_start_floor_ms"} {
		if v, ok := got[name]; !ok || math.IsNaN(v) || v <= 0 {
			t.Errorf("BENCH %s = %v (present %v), want a positive value\n%s", name, v, ok, out)
		}
	}
	if v, ok := got["list_10k_ms"]; !ok || !math.IsNaN(v) {
		t.Errorf("BENCH list_10k_ms = %v (present %v), want NaN for a stage that did not run", v, ok)
	}
	if !strings.Contains(out, "== 4. cold start") || !strings.Contains(out, "not measured in this run (-only)") {
		t.Errorf("the table lacks the cold start section or the note on skipped stages:\n%s", out)
	}
}
