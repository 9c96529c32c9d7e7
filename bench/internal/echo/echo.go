// Package echo is the floor of the benchmarks: a Unix-socket round trip to
// another process that does nothing but answer. The server reads a frame (a
// 4-byte big-endian length, then that many bytes) and answers with a frame
// of the size the request asked for, so a round trip carries a webhook's
// bytes one way and a verify answer's bytes back, like the plugin boundary,
// with no TLS, no HTTP/2 and no protobuf.
//
// It is not a protocol anyone else speaks; it exists only to be measured.
package echo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// maxFrame bounds one frame (the largest webhook the benchmarks send is far
// smaller).
const maxFrame = 64 << 20

// Serve answers every connection accepted on l until l is closed. Each
// request frame starts with the 4-byte size of the answer wanted.
func Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("echo: accept: %w", err)
		}
		go serveConn(c)
	}
}

func serveConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var buf, out []byte
	for {
		n, err := readFrame(r, &buf)
		if err != nil {
			return
		}
		want := 0
		if n >= 4 {
			want = int(binary.BigEndian.Uint32(buf[:4]))
		}
		if want > maxFrame {
			return
		}
		if cap(out) < 4+want {
			out = make([]byte, 4+want)
		}
		out = out[:4+want]
		binary.BigEndian.PutUint32(out, uint32(want))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// readFrame reads one frame into *buf (reused) and returns its length.
func readFrame(r io.Reader, buf *[]byte) (int, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > maxFrame {
		return 0, fmt.Errorf("echo: frame of %d bytes is over the limit", n)
	}
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	*buf = (*buf)[:n]
	_, err := io.ReadFull(r, *buf)
	return n, err
}

// Client sends frames to an echo server over one connection. It is not safe
// for concurrent use.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	resp []byte
}

// Dial connects to the echo server listening on the Unix socket path.
func Dial(path string) (*Client, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("echo: dial %s: %w", path, err)
	}
	return &Client{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// RoundTrip sends a frame of reqSize bytes and waits for an answer of
// respSize bytes.
func (c *Client) RoundTrip(reqSize, respSize int) error {
	if reqSize < 4 {
		reqSize = 4
	}
	if cap(c.req) < 4+reqSize {
		c.req = make([]byte, 4+reqSize)
	}
	req := c.req[:4+reqSize]
	binary.BigEndian.PutUint32(req, uint32(reqSize))
	binary.BigEndian.PutUint32(req[4:], uint32(respSize))
	if _, err := c.conn.Write(req); err != nil {
		return fmt.Errorf("echo: send: %w", err)
	}
	n, err := readFrame(c.r, &c.resp)
	if err != nil {
		return fmt.Errorf("echo: receive: %w", err)
	}
	if n != respSize {
		return fmt.Errorf("echo: answer of %d bytes, want %d", n, respSize)
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
