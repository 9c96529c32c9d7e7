package bench

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
)

// benchBins builds the binaries once per test binary run; the folder is
// removed by TestMain.
var benchBins = struct {
	once sync.Once
	dir  string
	bins *binaries
	err  error
}{}

func sharedBinaries(tb testing.TB) (*binaries, string) {
	tb.Helper()
	benchBins.once.Do(func() {
		root, err := ModuleRoot(".")
		if err != nil {
			benchBins.err = err
			return
		}
		if benchBins.dir, err = os.MkdirTemp("", "oore-bench-test-"); err != nil {
			benchBins.err = err
			return
		}
		benchBins.bins, benchBins.err = buildBinaries(context.Background(), root, benchBins.dir, "")
	})
	if benchBins.err != nil {
		tb.Fatal(benchBins.err)
	}
	return benchBins.bins, benchBins.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchBins.dir != "" {
		_ = os.RemoveAll(benchBins.dir)
	}
	os.Exit(code)
}

// BenchmarkWebhook times one delivery on every path the driver compares:
// the raw socket floor, the provider in-process (verify; identify + verify),
// client-go's ParseWebhook, the plugin through unary VerifyWebhook, a verify
// call over WebhookSession, a receive call (the session holding the secret)
// and a repository's first delivery (receive + verify), and the peer
// plugin. For profiles: go test -bench Webhook/push20/session
// -cpuprofile host.prof ./bench (and perf record -p <plugin pid> for the
// plugin side). OORE_BENCH_PLUGIN_ENV (comma-separated) adds environment to
// the plugin and peer processes, e.g. GOMAXPROCS=2.
func BenchmarkWebhook(b *testing.B) {
	bins, dir := sharedBinaries(b)
	ctx := context.Background()
	var env []string
	if v := os.Getenv("OORE_BENCH_PLUGIN_ENV"); v != "" {
		env = strings.Split(v, ",")
	}
	rig, err := startWebhookRig(ctx, bins, dir, rigOptions{env: env, peerEnv: env}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rig.close()
	for _, n := range []int{2, 20} {
		paths, err := rig.paths(ctx, n)
		if err != nil {
			b.Fatal(err)
		}
		name := "push2"
		if n == 20 {
			name = "push20"
		}
		for pname, o := range map[string]op{
			"floor": paths.floor, "inproc": paths.inproc, "inproc_identify_verify": paths.inprocIDV, "clientgo": paths.clientgo,
			"unary": paths.unary, "session": paths.session, "receive": paths.receive, "first_delivery": paths.firstDelivery, "peer": paths.peer,
		} {
			if o == nil {
				continue
			}
			b.Run(name+"/"+pname, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := o(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
