package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/bench/internal/echo"
)

// echoServer is the floor's other end: the echo helper in its own process,
// listening on a Unix socket.
type echoServer struct {
	cmd     *exec.Cmd
	path    string
	clients []*echo.Client
	end     func() error
}

// stop closes the clients and ends the helper.
func (s *echoServer) stop() error {
	for _, c := range s.clients {
		_ = c.Close()
	}
	return s.end()
}

// startEcho starts the echo helper binary with its socket in a new folder
// under dir. It returns once the helper listens. stop ends it (by closing
// its standard input) and removes the folder.
func startEcho(ctx context.Context, binary, dir string) (_ *echoServer, err error) {
	sockDir, err := os.MkdirTemp(dir, "echo-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(sockDir)
		}
	}()
	path := filepath.Join(sockDir, "echo.sock")
	cmd := exec.CommandContext(ctx, binary, path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start echo server %s: %w", binary, err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start echo server %s: no ready line (%q): %v", binary, line, err)
	}
	return &echoServer{cmd: cmd, path: path, end: func() error {
		_ = stdin.Close()
		err := cmd.Wait()
		_ = os.RemoveAll(sockDir)
		return err
	}}, nil
}

// roundTrip is one op: a frame of reqSize bytes out, respSize bytes back.
func (c *echoConn) roundTrip() error { return c.client.RoundTrip(c.reqSize, c.respSize) }

// echoConn is one client connection of the floor with fixed sizes.
type echoConn struct {
	client            *echo.Client
	reqSize, respSize int
}

func (s *echoServer) dial(reqSize, respSize int) (*echoConn, error) {
	c, err := echo.Dial(s.path)
	if err != nil {
		return nil, err
	}
	s.clients = append(s.clients, c)
	return &echoConn{client: c, reqSize: reqSize, respSize: respSize}, nil
}
