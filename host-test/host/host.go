// Package host is the reference Oore host for SCM integrations: what Oore
// core does for GitLab (and any other provider plugin), small enough to read
// in an afternoon and complete enough to embed.
//
// It serves Oore's HTTP API (the paths and JSON shapes of
// host-test/contract, Oore's published OpenAPI document) and routes
// /v1/integrations/{provider}/... and /v1/webhooks/{provider} to the provider
// plugin whose manifest names that provider. It owns everything
// provider-neutral: API tokens and roles, integration records, encrypted
// credentials and webhook secrets, sealed one-time OAuth state, OAuth refresh
// (shared/credsource), delivery dedupe and the durable build-trigger queue.
// It never parses a provider's payload nor builds a provider's URL: the
// plugin does.
//
// What it is not: a CI. Build triggers are stored and shown, not run.
package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/oauthstate"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
	"github.com/oore-ci/oore-scm-gitlab/shared/credsource"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// Defaults of Config.
const (
	DefaultPublicURL        = "http://127.0.0.1:8787"
	DefaultWebhookBodyLimit = 1 << 20
	DefaultWebhookMaxAge    = 5 * time.Minute
)

// Config is how a host runs. The zero value plus a store and plugins is usable.
type Config struct {
	// PublicURL is where browsers and SCM hosts reach this host: OAuth
	// redirect URIs and webhook URLs are built from it. Default
	// DefaultPublicURL.
	PublicURL string
	// FrontendOrigins are the origins an OAuth redirect_url may point at
	// (scheme://host[:port]). Default: PublicURL's origin.
	FrontendOrigins []string
	// WebhookBodyLimit bounds a webhook delivery's body; larger ones are
	// answered 413 payload_too_large. Default 1 MiB.
	WebhookBodyLimit int64
	// WebhookMaxAge refuses signed deliveries whose signature timestamp is
	// further from now than this. Default 5 minutes.
	WebhookMaxAge time.Duration
	// SCMTLS is sent with every connection to an SCM host: a CA bundle (PEM)
	// for self-managed hosts behind a private CA, trusted in addition to the
	// system roots, and — only when an operator asks — skipping verification.
	// The checkout proxy's upstream calls use it too. Default: system roots.
	SCMTLS *scmv1.TLSSettings
	// CredentialCheckInterval is how often the host checks every connected
	// integration's credentials as the manual token check does, recording
	// a revoked, under-scoped, expired or expiring token on the integration
	// (credentialcheck.go); hosts sharing the database run one round
	// between them. Zero (the default of an embedded host, so that a test's
	// host calls no SCM host on its own) or negative: off. oore-host serve
	// sets DefaultCredentialCheckInterval unless told otherwise.
	CredentialCheckInterval time.Duration
	// Logger receives the host's logs (never a token or secret). Default: none.
	Logger hclog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() error {
	if c.PublicURL == "" {
		c.PublicURL = DefaultPublicURL
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("public URL %q: must be an absolute http(s) URL without user info, query or fragment", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if len(c.FrontendOrigins) == 0 {
		c.FrontendOrigins = []string{origin(u)}
	}
	for i, o := range c.FrontendOrigins {
		ou, err := url.Parse(o)
		if err != nil || ou.Host == "" || (ou.Scheme != "http" && ou.Scheme != "https") || (ou.Path != "" && ou.Path != "/") {
			return fmt.Errorf("frontend origin %q: must be scheme://host[:port]", o)
		}
		c.FrontendOrigins[i] = origin(ou)
	}
	if c.WebhookBodyLimit <= 0 {
		c.WebhookBodyLimit = DefaultWebhookBodyLimit
	}
	if c.WebhookMaxAge <= 0 {
		c.WebhookMaxAge = DefaultWebhookMaxAge
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Host serves Oore's integration API over a store and provider plugins.
type Host struct {
	cfg     Config
	store   store.Store
	plugins Plugins
	sealer  oauthstate.Sealer
	creds   *credsource.Source
	metrics *metrics
	log     hclog.Logger
	handler http.Handler
	// webhookSessions: per provider that announces WEBHOOK_SESSION, the
	// session intake uses (webhooks.go); refs names secrets for them.
	webhookSessions map[string]*webhookSession
	refs            secretRefs
	// bgCtx ends at Close; bg runs the periodic tasks (credentialcheck.go).
	bgCtx  context.Context
	bgStop context.CancelFunc
	bg     sync.WaitGroup
}

// New returns a host. The store and plugins stay the caller's to close;
// Close the host before the plugins.
func New(cfg Config, st store.Store, kr *secrets.Keyring, plugins Plugins) (*Host, error) {
	if err := cfg.defaults(); err != nil {
		return nil, fmt.Errorf("new host: %w", err)
	}
	refs, err := newSecretRefs(kr)
	if err != nil {
		return nil, fmt.Errorf("new host: %w", err)
	}
	h := &Host{
		cfg:             cfg,
		store:           st,
		plugins:         plugins,
		sealer:          oauthstate.NewSealer(kr),
		metrics:         newMetrics(plugins),
		log:             cfg.Logger,
		webhookSessions: newWebhookSessions(plugins),
		refs:            refs,
	}
	h.creds = credsource.New(store.NewCredentialStore(st, 0), h.refresh,
		credsource.WithClock(cfg.Now), credsource.WithLogger(cfg.Logger.Named("credentials")))
	h.handler = h.routes()
	h.startBackground()
	return h, nil
}

// Close stops the periodic credentials check (a round in progress ends
// promptly, its plugin call canceled) and ends the host's webhook sessions
// with its plugins (a request still waiting on one gets 503
// plugin_unavailable). Call it once the HTTP server has stopped and before
// the plugins are closed. The store and plugins stay open.
func (h *Host) Close() error {
	h.stopBackground()
	for _, s := range h.webhookSessions {
		_ = s.client.Close() // never fails
	}
	return nil
}

// connection is what a provider call carries: the SCM host, the
// credentials and the host's TLS settings for SCM hosts.
func (h *Host) connection(hostURL string, creds *scmv1.Credentials) *scmv1.Connection {
	return &scmv1.Connection{HostUrl: hostURL, Credentials: creds, Tls: h.cfg.SCMTLS}
}

// Handler is the host's HTTP API.
func (h *Host) Handler() http.Handler { return h.handler }

// handlerFunc answers a request or returns the error to answer with.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h *Host) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, need access, fn handlerFunc) {
		mux.Handle(pattern, h.wrap(pattern, need, fn))
	}
	add("GET /healthz", public, h.healthz)
	mux.Handle("GET /metrics", h.metrics.handler())

	add("POST /v1/integrations/{provider}/start", manage, h.startIntegration)
	add("POST /v1/integrations/{provider}/authorize", manage, h.authorize)
	add("GET /v1/integrations/{provider}/callback", public, h.callback)
	add("GET /v1/integrations", read, h.listIntegrations)
	add("GET /v1/integrations/{id}", read, h.getIntegration)
	add("DELETE /v1/integrations/{id}", manage, h.deleteIntegration)
	add("GET /v1/integrations/{id}/installations", read, h.listInstallations)
	add("POST /v1/integrations/{id}/installations", manage, h.syncInstallations)
	add("GET /v1/integrations/{id}/repositories", read, h.listRepositories)
	add("GET /v1/integration-repositories", read, h.listSourceRepositories)
	for _, name := range h.plugins.Names() {
		// Oore names these paths after the provider (gitlab-webhook-secret, gitlab-token).
		add("POST /v1/integration-repositories/{id}/"+name+"-webhook-secret", manage, h.rotateWebhookSecret(name))
		add("POST /v1/integrations/{id}/"+name+"-token/check", manage, h.checkToken(name))
		add("PUT /v1/integrations/{id}/"+name+"-token", manage, h.replaceToken(name))
		if h.servesProjectWebhooks(name) { // added by the reference host (projecthooks.go)
			add("POST /v1/integration-repositories/{id}/"+name+"-webhook", manage, h.registerProjectWebhook(name))
			add("DELETE /v1/integration-repositories/{id}/"+name+"-webhook", manage, h.removeProjectWebhook(name))
		}
	}
	add("POST /v1/webhooks/{provider}", public, h.receiveWebhook)
	add("GET /v1/webhook-deliveries", read, h.listDeliveries)
	add("POST /v1/webhook-deliveries/{id}/status", manage, h.setCommitStatus)
	add("POST /v1/webhook-deliveries/{id}/jobs", manage, h.createJob)
	add(checkoutRoute, public, newCheckoutProxy(h).serve)
	add("/", public, func(w http.ResponseWriter, r *http.Request) error {
		return newError(http.StatusNotFound, codeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// wrap adds what every route has: authentication and authorization, panic
// recovery, error answers in Oore's shape, metrics and a log line (route
// pattern only: query strings may hold OAuth codes).
func (h *Host) wrap(pattern string, need access, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				h.log.Error("panic while serving a request", "route", pattern, "panic", fmt.Sprint(p))
				if rec.status == 0 {
					h.writeError(rec, r, internalError("answer", fmt.Errorf("panic: %v", p)))
				}
			}
			d := time.Since(start)
			h.metrics.observeRequest(pattern, r.Method, rec.code(), d)
			h.log.Debug("request", "method", r.Method, "route", pattern, "status", rec.code(), "duration", d)
		}()
		if need != public {
			c, aerr := h.authenticate(r)
			if aerr == nil {
				aerr = authorize(c, need)
			}
			if aerr != nil {
				h.writeError(rec, r, aerr)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		}
		if err := fn(rec, r); err != nil {
			h.writeError(rec, r, asAPIError("answer "+pattern, err))
		}
	})
}

// writeError answers with Oore's error shape; 5xx causes are logged.
func (h *Host) writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	if e.Status >= 500 || e.cause != nil {
		level := hclog.Warn
		if e.Status == http.StatusInternalServerError {
			level = hclog.Error
		}
		h.log.Log(level, "request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "code", e.Code, "error", e.Error())
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterHeader(e.RetryAfter))
	}
	writeJSON(w, e.Status, e.body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *statusRecorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// callbackURL is the OAuth redirect URI registered at the provider.
func (h *Host) callbackURL(provider string) string {
	return h.cfg.PublicURL + "/v1/integrations/" + provider + "/callback"
}

// webhookURL is where a provider delivers webhooks.
func (h *Host) webhookURL(provider string) string {
	return h.cfg.PublicURL + "/v1/webhooks/" + provider
}

func (h *Host) now() time.Time { return h.cfg.Now() }

// audit records an event; a failure is logged, never fatal to the request.
func (h *Host) audit(ctx context.Context, action, integrationID, detail string) {
	c := callerOf(ctx)
	actor := "token:" + c.TokenID
	if c.TokenID == "" {
		actor = "oauth-callback"
	}
	if err := h.store.RecordAudit(ctx, store.AuditEvent{Actor: actor, Action: action, IntegrationID: integrationID, Detail: detail}); err != nil {
		h.log.Warn("audit event not recorded", "action", action, "integration_id", integrationID, "error", err)
	}
}

// integrationOf loads an integration by path id, 404 when missing.
func (h *Host) integrationOf(ctx context.Context, id string) (store.Integration, error) {
	if id == "" || len(id) > 128 {
		return store.Integration{}, notFoundError("integration", id)
	}
	in, err := h.store.GetIntegration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Integration{}, notFoundError("integration", id)
	}
	if err != nil {
		return store.Integration{}, internalError("load integration", err)
	}
	return in, nil
}
