package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageNames are the templates under templates/ that are whole pages; the
// others (layout.html, parts.html) are shared by all of them.
var pageNames = []string{
	"signin", "integrations", "providers", "connect", "integration", "delete",
	"repositories", "deliveries", "oauth_return", "error",
}

// pages are the parsed page templates, each with the layout and parts.
type pages struct {
	t map[string]*template.Template
}

func loadPages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFS,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse template %s: %w", name, err)
		}
		p.t[name] = t
	}
	return p, nil
}

var templateFuncs = template.FuncMap{
	"when": func(unix int64) string {
		if unix <= 0 {
			return "never"
		}
		return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04 UTC")
	},
	"isoTime": func(unix int64) string {
		return time.Unix(unix, 0).UTC().Format(time.RFC3339)
	},
	"short": func(sha string) string {
		if len(sha) > 12 {
			return sha[:12]
		}
		return sha
	},
	"join": strings.Join,
	// buildTone colours a build trigger's status badge.
	"buildTone": func(status string) string {
		switch status {
		case "done":
			return "ok"
		case "queued", "running":
			return "warn"
		}
		return "muted"
	},
	"describedBy": func(f formField) string {
		var ids []string
		if f.Help != "" {
			ids = append(ids, "help-"+f.Name)
		}
		if f.Error != "" {
			ids = append(ids, "err-"+f.Name)
		}
		return strings.Join(ids, " ")
	},
}

// view is what every page template gets.
type view struct {
	Title string
	// Nav is the section highlighted in the navigation.
	Nav      string
	SignedIn bool
	CSRF     string
	// CanManage: the person's API token may change integrations (owner or
	// admin), so the pages show the forms that change them.
	CanManage bool
	// Notice is a status message (role=status); Error an alert.
	Notice string
	Error  string
	// Refresh, when set, sends the browser on with a meta refresh.
	Refresh string
	Data    any
}

// render draws page name with v. The page is rendered to a buffer first so
// a template error never sends half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t, ok := h.pages.t[name]
	if !ok {
		http.Error(w, "unknown page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.Error("render page", "page", name, "error", err)
		http.Error(w, "The page could not be drawn.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// page renders for a signed-in person.
func (c call) page(w http.ResponseWriter, status int, name string, v view) {
	v.SignedIn, v.CSRF, v.CanManage = true, c.sess.CSRF, !c.sess.ReadOnly
	c.h.render(w, c.r, status, name, v)
}

// renderError draws the error page; a signed-in person keeps the navigation.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := view{Title: http.StatusText(status), Error: msg}
	if sess, ok := h.session(r); ok {
		v.SignedIn, v.CSRF = true, sess.CSRF
	}
	h.render(w, r, status, "error", v)
}

// assetHandler serves the embedded CSS and JavaScript.
func assetHandler() http.Handler {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		// The embed directive guarantees the directory exists.
		panic(err)
	}
	fsrv := http.StripPrefix(basePath+"/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		fsrv.ServeHTTP(w, r)
	})
}
