package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// apiClient calls the host's JSON API in-process: the request goes straight
// to the API's http.Handler, carrying the signed-in user's token, and never
// leaves the process.
type apiClient struct {
	h http.Handler
}

// apiResult is one API answer.
type apiResult struct {
	Status int
	Body   []byte
	Header http.Header
}

// maxAPIBody bounds what the UI reads of one API answer.
const maxAPIBody = 8 << 20

// do sends method path (with query) and an optional JSON body as token.
// The original request, when given, lends its remote address so the API's
// logs and limits see the person, not the UI.
func (c apiClient) do(ctx context.Context, orig *http.Request, token, method, path string, body any) (apiResult, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiResult{}, fmt.Errorf("encode %s %s: %w", method, pathOnly(path), err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return apiResult{}, fmt.Errorf("build %s %s: %w", method, pathOnly(path), err)
	}
	req.RequestURI = path
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if orig != nil {
		req.RemoteAddr = orig.RemoteAddr
		req.Host = orig.Host
		req.TLS = orig.TLS
		if ua := orig.UserAgent(); ua != "" {
			req.Header.Set("User-Agent", ua)
		}
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	res := rec.Result()
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAPIBody))
	if err != nil {
		return apiResult{}, fmt.Errorf("read answer of %s %s: %w", method, pathOnly(path), err)
	}
	return apiResult{Status: res.StatusCode, Body: b, Header: res.Header}, nil
}

// call is do, decoding a 2xx JSON answer into out (when not nil) and any
// other answer into an *apiError.
func (c apiClient) call(ctx context.Context, orig *http.Request, token, method, path string, body, out any) error {
	res, err := c.do(ctx, orig, token, method, path, body)
	if err != nil {
		return err
	}
	if res.Status < 200 || res.Status > 299 {
		return decodeAPIError(res)
	}
	if out == nil || len(bytes.TrimSpace(res.Body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(res.Body, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, pathOnly(path), err)
	}
	return nil
}

// pathOnly drops the query (it may hold search words) for error messages.
func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// apiPath joins escaped path segments under /v1 and adds the query.
func apiPath(q url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}
