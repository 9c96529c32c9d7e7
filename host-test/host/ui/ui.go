package ui

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// basePath is where the host mounts the UI.
const basePath = "/ui"

// contentSecurityPolicy allows only the UI's own scripts, styles and
// images. form-action is left out on purpose: the OAuth button's form is
// answered with a redirect to the SCM host, which form-action would block.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// Options configure the UI. API is required.
type Options struct {
	// API is the host's JSON API (the handler serving /v1/...). The UI calls
	// it in-process with the signed-in person's token.
	API http.Handler

	// Providers describes the provider plugins the host serves; the connect
	// forms are drawn from it. Use RegistryProviders for a launcher registry.
	Providers Providers

	// PublicURL is the host's address as browsers and SCM hosts reach it,
	// e.g. "http://127.0.0.1:8787" (no trailing slash). The OAuth redirect
	// URI and webhook URLs shown to people are built from it. Empty: the
	// scheme and Host of each request.
	PublicURL string

	// SessionKey seals session cookies (AES-256-GCM, 32 bytes). Nil: a
	// random key, so sessions end when the process does. Hosts behind a
	// load balancer share one key.
	SessionKey []byte

	// SessionTTL is how long a sign-in lasts. Zero: 12 hours.
	SessionTTL time.Duration

	// Now is the clock. Nil: time.Now.
	Now func() time.Time

	// Logger receives the UI's logs (never a token or a secret). Nil: none.
	Logger hclog.Logger
}

// Handler serves the UI under /ui/. Create it with New.
type Handler struct {
	api       apiClient
	providers Providers
	publicURL string
	sealer    *sealer
	ttl       time.Duration
	now       func() time.Time
	log       hclog.Logger
	pages     *pages
	root      http.Handler
	// missingRoutes remembers API endpoints that answered "no such
	// endpoint" (method + path shape), so their buttons are hidden.
	missingRoutes sync.Map
}

// New builds the UI handler. Mount it at "/ui/" on the host's mux.
func New(opts Options) (*Handler, error) {
	if opts.API == nil {
		return nil, errors.New("ui: Options.API is required")
	}
	key := opts.SessionKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("ui: session key: %w", err)
		}
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	pub := strings.TrimRight(opts.PublicURL, "/")
	if pub != "" {
		u, err := url.Parse(pub)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("ui: PublicURL %q: want an http(s) origin such as http://127.0.0.1:8787", opts.PublicURL)
		}
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		api:       apiClient{h: opts.API},
		providers: opts.Providers,
		publicURL: pub,
		sealer:    s,
		ttl:       opts.SessionTTL,
		now:       opts.Now,
		log:       opts.Logger,
		pages:     pg,
	}
	if h.ttl <= 0 {
		h.ttl = 12 * time.Hour
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = hclog.NewNullLogger()
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.crossOrigin))
	h.root = cop.Handler(h.routes())
	return h, nil
}

// ServeHTTP sets the security headers of every answer and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, basePath+"/assets/") {
		hd.Set("Cache-Control", "no-store")
	}
	h.root.ServeHTTP(w, r)
}

func (h *Handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+basePath+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, basePath+"/integrations", http.StatusSeeOther)
	})
	mux.Handle("GET "+basePath+"/assets/", assetHandler())
	mux.HandleFunc("GET "+basePath+"/signin", h.signinPage)
	mux.HandleFunc("POST "+basePath+"/signin", h.signin)
	mux.HandleFunc("POST "+basePath+"/signout", h.signout)
	mux.HandleFunc("GET "+basePath+"/oauth/return", h.oauthReturn)

	auth := func(pattern string, fn authedHandler) { mux.Handle(pattern, h.authed(fn)) }
	auth("GET "+basePath+"/integrations", h.integrationsPage)
	auth("GET "+basePath+"/connect", h.providersPage)
	auth("GET "+basePath+"/connect/{provider}", h.connectPage)
	auth("POST "+basePath+"/connect/{provider}", h.connect)
	auth("GET "+basePath+"/integrations/{id}", h.integrationPage)
	auth("POST "+basePath+"/integrations/{id}/check", h.checkCredentials)
	auth("POST "+basePath+"/integrations/{id}/sync", h.syncRepositories)
	auth("POST "+basePath+"/integrations/{id}/authorize", h.reauthorize)
	auth("POST "+basePath+"/integrations/{id}/token", h.replaceToken)
	auth("GET "+basePath+"/integrations/{id}/delete", h.deletePage)
	auth("POST "+basePath+"/integrations/{id}/delete", h.deleteIntegration)
	auth("GET "+basePath+"/integrations/{id}/repositories", h.repositoriesPage)
	auth("POST "+basePath+"/repositories/{id}/webhook-secret", h.rotateWebhookSecret)
	auth("POST "+basePath+"/repositories/{id}/webhook", h.registerWebhook)
	auth("GET "+basePath+"/deliveries", h.deliveriesPage)
	mux.HandleFunc(basePath+"/", h.notFound)
	return mux
}

// call is one API request, from this request's person.
type call struct {
	h    *Handler
	r    *http.Request
	sess session
}

func (c call) ctx() context.Context { return c.r.Context() }

func (c call) do(method, path string, body, out any) error {
	return c.h.api.call(c.ctx(), c.r, c.sess.Token, method, path, body, out)
}

// authedHandler is a page for a signed-in person.
type authedHandler func(w http.ResponseWriter, r *http.Request, c call)

// authed sends people without a session to sign in, checks the CSRF token of
// every POST, and signs out a session whose token the API stopped accepting.
func (h *Handler) authed(fn authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := h.session(r)
		if !ok {
			if r.Method != http.MethodGet {
				h.renderError(w, r, http.StatusUnauthorized, "Your session has ended. Sign in again, then repeat what you did.")
				return
			}
			next := r.URL.RequestURI()
			http.Redirect(w, r, basePath+"/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !csrfOK(sess, r) {
			h.renderError(w, r, http.StatusForbidden, "This form has expired or did not come from this page. Reload the page and try again.")
			return
		}
		fn(w, r, call{h: h, r: r, sess: sess})
	})
}

// crossOrigin answers a POST that came from another site.
func (h *Handler) crossOrigin(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, http.StatusForbidden, "This request came from another site and was refused. Use the forms on this site's pages.")
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, http.StatusNotFound, "There is no page at this address.")
}

// secure says whether cookies must be Secure: the UI is served over https.
func (h *Handler) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return strings.HasPrefix(h.publicURL, "https://")
}

// public is the host's public origin for this request.
func (h *Handler) public(r *http.Request) string {
	if h.publicURL != "" {
		return h.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// apiFailed handles an API error no form can show: a refused session signs
// out; anything else is an error page.
func (h *Handler) apiFailed(w http.ResponseWriter, r *http.Request, err error) {
	ae := asAPIError(err)
	if ae.isSessionError() {
		h.clearSession(w, r)
		http.Redirect(w, r, basePath+"/signin?expired=1", http.StatusSeeOther)
		return
	}
	if ae.Status >= 500 {
		h.log.Warn("host API call failed", "path", r.URL.Path, "status", ae.Status, "code", ae.Code)
	}
	status := ae.Status
	if status < 400 {
		status = http.StatusBadGateway
	}
	h.renderError(w, r, status, ae.text())
}
