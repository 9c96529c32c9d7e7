// Command oore-bench-echo is the benchmarks' floor: an echo server on a Unix
// socket in its own process (see package echo). It listens on the path given
// as its only argument, prints "ready" on stdout, and exits when its standard
// input closes, so it never outlives the benchmark that started it.
package main

import (
	"fmt"
	"io"
	"net"
	"os"

	"github.com/oore-ci/oore-scm-gitlab/bench/internal/echo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: oore-bench-echo SOCKET-PATH (started by oore-bench)")
		os.Exit(2)
	}
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "oore-bench-echo:", err)
		os.Exit(1)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = l.Close()
	}()
	fmt.Println("ready")
	if err := echo.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, "oore-bench-echo:", err)
		os.Exit(1)
	}
}
