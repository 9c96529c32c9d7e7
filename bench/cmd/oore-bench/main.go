// Command oore-bench measures the GitLab plugin's performance (issue 7) and
// prints a table followed by one `BENCH <name> <value> <unit>` line per
// figure. `make bench` runs it; docs/benchmarks.md says what each figure is.
//
//	oore-bench [-plugin-dir dist/plugins/gitlab] [-quick]
//
// It exits 1 when a stage could not be measured (its figures print as NaN).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/bench"
)

func main() {
	var cfg bench.Config
	flag.StringVar(&cfg.PluginDir, "plugin-dir", "", "a built and sealed GitLab plugin (make build writes dist/plugins/gitlab); empty: build one")
	flag.StringVar(&cfg.ComparePluginDir, "compare-plugin-dir", "", "a second built and sealed plugin (a proposed change): the experiments stage times its webhook path against -plugin-dir's")
	flag.StringVar(&cfg.Root, "root", "", "the module root (default: found above the working directory)")
	flag.BoolVar(&cfg.Quick, "quick", false, "smoke mode: every figure, very few iterations (the numbers mean nothing)")
	only := flag.String("only", "", "comma-separated stages to run ("+strings.Join(bench.Stages, ", ")+"); default all")
	env := flag.String("plugin-env", "", "comma-separated extra environment for the GitLab plugin process (experiments, e.g. GOMAXPROCS=1)")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	flag.Parse()
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if *env != "" {
		cfg.PluginEnv = strings.Split(*env, ",")
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	report, err := bench.Run(ctx, cfg)
	if report != nil {
		_ = report.WriteTable(os.Stdout)
		fmt.Println()
		_ = report.WriteLines(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "oore-bench:", err)
		os.Exit(1)
	}
}
