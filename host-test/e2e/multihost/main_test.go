package multihost

import (
	"os"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
)

// built is set by TestMain before any test runs and only read afterwards.
var built e2ekit.Binaries

func TestMain(m *testing.M) {
	os.Exit(e2ekit.Main(m, "multihost", &built))
}
