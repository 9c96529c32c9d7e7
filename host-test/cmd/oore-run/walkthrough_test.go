package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEShowsTheWalkthroughMakeRunPrints keeps the README's walkthrough
// and the one `make run` prints (and host-test/e2e/clone runs) identical.
func TestREADMEShowsTheWalkthroughMakeRunPrints(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := "```sh\n" + walkthroughSteps + "```\n<!-- walkthrough:end -->"
	if !strings.Contains(string(readme), block) {
		t.Fatal("README.md's walkthrough differs from host-test/cmd/oore-run/walkthrough.sh; copy the file into the README block")
	}
	out := walkthrough("http://127.0.0.1:8787", "http://127.0.0.1:8929", "oore_owner", map[string]string{"GITLAB_TOKEN": "glpat-demo"})
	for _, want := range []string{"git -c http.extraHeader", "/v1/webhook-deliveries/$DELIVERY/jobs", "oore_owner", "glpat-demo"} {
		if !strings.Contains(out, want) {
			t.Errorf("make run's walkthrough lacks %q", want)
		}
	}
}
