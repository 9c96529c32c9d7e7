package host

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkCheckoutProxyPack measures one upload-pack through the proxy
// (job token check, clone credentials, streaming an 8 MiB pack from the
// upstream to the runner) against fetching it from the upstream directly.
// Allocations per operation must not grow with the pack's size.
func BenchmarkCheckoutProxyPack(b *testing.B) {
	const packSize = 8 << 20
	ph := newProxyHarness(b)
	pack := bytes.Repeat([]byte("PACK-data-"), packSize/10)
	ph.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentTypeUploadResult)
		_, _ = w.Write(pack)
	})
	j := ph.job()
	fetch := func(b *testing.B, url string, auth string) {
		req, err := http.NewRequest("POST", url, bytes.NewReader([]byte("0032want 1111111111111111111111111111111111111111\n00000009done\n")))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", contentTypeUploadRequest)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || n != int64(len(pack)) {
			b.Fatalf("%d, %d bytes, %v", res.StatusCode, n, err)
		}
	}
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(int64(len(pack)))
		b.ReportAllocs()
		for b.Loop() {
			fetch(b, ph.upstream.URL+"/group/app.git/git-upload-pack", "")
		}
	})
	b.Run("proxy", func(b *testing.B) {
		b.SetBytes(int64(len(pack)))
		b.ReportAllocs()
		for b.Loop() {
			fetch(b, ph.srv.URL+ph.proxyPath(j)+"/git-upload-pack", "Bearer "+j.Token)
		}
	})
}
