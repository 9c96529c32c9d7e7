package echo_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/bench/internal/echo"
)

func TestRoundTripCarriesTheAskedSizes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "echo.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- echo.Serve(l) }()
	c, err := echo.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ req, resp int }{
		"webhook sized":  {9869, 5425},
		"empty answer":   {100, 0},
		"tiny request":   {1, 64},
		"large both way": {1 << 20, 1 << 20},
	} {
		if err := c.RoundTrip(tc.req, tc.resp); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Close: %v", err)
	}
}
