package conformance

import (
	"strings"
	"testing"
)

// Run is the suite's entry point for `go test`: it launches the plugin named
// by cfg.Manifest, runs every case as a subtest of t (skipping those the
// provider does not announce, saying why), and stops the plugin. A plugin
// that cannot be launched at all fails t at once with the launcher's reason.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	s, err := start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	defer s.close()
	for _, tc := range allCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(tc)
			for _, l := range r.Logs {
				t.Log(l)
			}
			switch r.Status {
			case Fail:
				t.Error(strings.Join(r.Problems, "\n"))
			case Skip:
				t.Skip(r.SkipReason)
			}
		})
	}
}
