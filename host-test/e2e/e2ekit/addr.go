package e2ekit

import (
	"net"
	"testing"
)

// FreeAddr reserves a loopback port for a server started next, and
// returns its host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
