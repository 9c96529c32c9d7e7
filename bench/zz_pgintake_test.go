package bench

import (
	"context"
	"os"
	"testing"
)

func TestZZPostgresIntake(t *testing.T) {
	cfg := Config{Quick: os.Getenv("ZZ_QUICK") != "", Progress: os.Stderr}
	if os.Getenv("ZZ_SQLITE") != "" {
		cfg.Only = []string{"intake"}
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rep.WriteTable(os.Stdout)
	}
	cfg.Only = nil
	rep, err := RunIntakePostgres(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.WriteTable(os.Stdout)
	rep.WriteLines(os.Stdout)
}
