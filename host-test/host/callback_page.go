package host

import (
	"html/template"
	"net/http"
)

// callbackPage is what a browser sees when an OAuth callback fails. Every
// value is escaped by html/template.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · Oore</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.4rem; }
p { line-height: 1.5; }
.provider { color: #57606a; font-size: .9rem; }
</style>
</head>
<body>
<p class="provider">Connecting {{.Provider}} to Oore</p>
<h1>{{.Title}}</h1>
<p>{{.Detail}}</p>
</body>
</html>
`))

// writeCallbackPage answers an OAuth callback that stored nothing. Oore's
// contract answers it 200 with text/html; the page says what happened.
func writeCallbackPage(w http.ResponseWriter, provider, title, detail string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Oore-Callback-Result", "error")
	w.WriteHeader(http.StatusOK)
	_ = callbackPage.Execute(w, struct{ Provider, Title, Detail string }{provider, title, detail})
}
