package e2ekit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oore-ci/oore-scm-gitlab/host-test/contract"
)

// Response is one HTTP answer of a host.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the JSON body into v, or fails the test.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %.300s: %v", r.Body, err)
	}
}

// ErrorCode is the "code" of an error answer ("" when there is none).
func (r Response) ErrorCode() string {
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Code
}

// NoRedirectClient is an HTTP client that shows redirects to the test
// instead of following them (OAuth flows assert where they point).
func NoRedirectClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Client calls one host's API. Its methods may be called from several
// goroutines, except [Client.Do], which fails the test with t.Fatal.
type Client struct {
	// T receives the failures.
	T testing.TB
	// Base is the host's URL, e.g. http://127.0.0.1:40123.
	Base string
	// HTTP sends the requests; [NoRedirectClient] suits every caller.
	HTTP *http.Client
	// Contract, when set, checks every answer against Oore's OpenAPI
	// contract (answers outside it, e.g. /healthz, are not checked); a
	// mismatch fails the test with Errorf.
	Contract *contract.Validator
}

// Request builds a request to the API: a nil body sends none, a string or
// []byte is sent as it is, anything else as JSON. A non-empty token is sent
// as a Bearer token.
func (c *Client) Request(method, path, token string, body any) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode the body of %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Send sends req, reads the whole answer and checks it against the
// contract (when [Client.Contract] is set).
func (c *Client) Send(req *http.Request) (Response, error) {
	res, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read the answer: %w", req.Method, req.URL.Path, err)
	}
	r := Response{Status: res.StatusCode, Header: res.Header, Body: raw}
	c.CheckContract(req.Method, req.URL.Path, r)
	return r, nil
}

// Call is [Client.Request] then [Client.Send].
func (c *Client) Call(method, path, token string, body any) (Response, error) {
	req, err := c.Request(method, path, token, body)
	if err != nil {
		return Response{}, err
	}
	return c.Send(req)
}

// Do is [Client.Call] that fails the test (t.Fatal: the test's goroutine
// only) when the request cannot be made or gets no answer.
func (c *Client) Do(method, path, token string, body any) Response {
	c.T.Helper()
	r, err := c.Call(method, path, token, body)
	if err != nil {
		c.T.Fatal(err)
	}
	return r
}

// CheckContract checks an answer to method path (a query is ignored)
// against the contract, when [Client.Contract] is set; the host's own
// additions (e.g. /v1/webhook-deliveries, /healthz) are not in it and pass.
func (c *Client) CheckContract(method, path string, r Response) {
	c.T.Helper()
	if c.Contract == nil {
		return
	}
	p, _, _ := strings.Cut(path, "?")
	err := c.Contract.ValidateResponse(method, p, r.Status, r.Header.Get("Content-Type"), r.Body)
	if err != nil && !errors.Is(err, contract.ErrNotInContract) {
		c.T.Errorf("%s %s: contract: %v\nbody: %.500s", method, p, err, r.Body)
	}
}
