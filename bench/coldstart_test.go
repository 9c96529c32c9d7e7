package bench

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// The plain baseline must do the same work as the launcher's default minus
// its security: the environment the launcher gives (GOMAXPROCS included),
// without the TLS descriptor, and the same manifest comparison.
func TestPlainLaunchIsTheLauncherMinusSecurity(t *testing.T) {
	bins, _ := sharedBinaries(t)
	ctx := context.Background()
	env, err := launchedEnv(ctx, bins.floor, []string{"OORE_PLUGIN_BENCH_MARK=1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "OORE_PLUGIN_TLS_FD=") || strings.HasPrefix(kv, "PLUGIN_") || strings.HasPrefix(kv, "OORE_SCM_PLUGIN=") {
			t.Errorf("plain environment keeps %q, which makes the launch secure or is go-plugin's own", kv)
		}
	}
	if !slices.Contains(env, "OORE_PLUGIN_BENCH_MARK=1") || !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		t.Errorf("plain environment %q lacks what the launcher passed (extra env, GOMAXPROCS)", env)
	}
	if d, err := plainLaunch(ctx, bins.floor, env); err != nil || d <= 0 {
		t.Fatalf("plain launch of the floor plugin: %v, %v", d, err)
	}
	wrong := *bins.floor
	wrong.Version = "9.9.9"
	if _, err := plainLaunch(ctx, &wrong, env); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("plain launch against a manifest the plugin contradicts: %v, want the difference reported", err)
	}
}
