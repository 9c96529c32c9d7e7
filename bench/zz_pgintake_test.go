package bench

import (
	"context"
	"os"
	"testing"
)

func TestZZPostgresIntake(t *testing.T) {
	ctx := context.Background()
	root, _ := ModuleRoot(".")
	dir := t.TempDir()
	bins, err := buildBinaries(ctx, root, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Quick: os.Getenv("ZZ_QUICK") != ""}
	r := &run{cfg: cfg, sz: cfg.sizes(), dir: dir, bins: bins, report: &Report{Machine: machine()}}
	if os.Getenv("ZZ_SQLITE") != "" {
		if err := r.intake(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.intakePostgres(ctx); err != nil {
		t.Fatal(err)
	}
	r.report.WriteTable(os.Stdout)
	r.report.WriteLines(os.Stdout)
}
