package clone

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/e2e/e2ekit"
)

// built is set by TestMain before any test runs and only read afterwards.
var built e2ekit.Binaries

func TestMain(m *testing.M) {
	os.Exit(e2ekit.Main(m, "clone e2e", &built, func() error {
		if _, err := exec.LookPath("git"); err != nil {
			return fmt.Errorf("the git client is required: %w", err)
		}
		return nil
	}))
}
