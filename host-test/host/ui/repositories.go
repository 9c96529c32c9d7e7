package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// repositoriesData is one page of an integration's repositories.
type repositoriesData struct {
	Integration  integrationView
	Query        string
	Page         int
	Pager        pager
	Repositories []repositoryView
	// WebhookURL is where the provider sends this integration's webhooks.
	WebhookURL string
	// AutoRegister: the provider, the connection and the host can register
	// project webhooks.
	AutoRegister bool
	// RegisterHelp says why automatic registration is not offered.
	RegisterHelp string
}

// repositoryView is one repository with its webhook panel.
type repositoryView struct {
	repository
	// Open keeps the webhook panel open (after an action on it).
	Open bool
	// Secret is the webhook secret just generated: shown once.
	Secret string
	// SigningToken: the secret chosen (or just made) is a signing token,
	// not a plain secret token.
	SigningToken bool
	WebhookURL   string
	Notice       string
	Error        string
}

// panelResult is what an action on one repository's panel answered.
type panelResult struct {
	RepositoryID string
	Secret       string
	SigningToken bool
	WebhookURL   string
	Notice       string
	Error        string
}

func (h *Handler) repositoriesPage(w http.ResponseWriter, r *http.Request, c call) {
	q := r.URL.Query()
	h.showRepositories(w, r, c, r.PathValue("id"), q.Get("q"), pageOf(q), http.StatusOK, nil)
}

// showRepositories draws the repository list with an optional panel result.
func (h *Handler) showRepositories(w http.ResponseWriter, r *http.Request, c call, id, search string, page, status int, res *panelResult) {
	det, err := c.loadIntegration(id)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	search = strings.TrimSpace(search)
	aq := url.Values{"limit": {strconv.Itoa(pageSize)}, "offset": {strconv.FormatInt(offsetOf(page), 10)}}
	if search != "" {
		aq.Set("q", search)
	}
	var list listRepositoriesResponse
	if err := c.do(http.MethodGet, apiPath(aq, "integrations", id, "repositories"), nil, &list); err != nil {
		h.apiFailed(w, r, err)
		return
	}
	cat := newCatalog(h.providers)
	iv := h.integrationView(cat, det.Integration)
	base := basePath + "/integrations/" + url.PathEscape(id) + "/repositories"
	d := repositoriesData{
		Integration: iv, Query: search, Page: page,
		Pager:      newPager(base, url.Values{"q": {search}}, page, len(list.Repositories), list.Total),
		WebhookURL: h.public(r) + "/v1/webhooks/" + url.PathEscape(iv.Provider),
	}
	d.AutoRegister, d.RegisterHelp = h.canAutoRegister(c, cat, iv, list.Repositories)
	for _, repo := range list.Repositories {
		rv := repositoryView{repository: repo, WebhookURL: d.WebhookURL}
		if res != nil && res.RepositoryID == repo.ID {
			rv.Open, rv.Secret, rv.Notice, rv.Error = true, res.Secret, res.Notice, res.Error
			rv.SigningToken = res.SigningToken
			if res.WebhookURL != "" {
				rv.WebhookURL = res.WebhookURL
			}
			if res.Secret != "" {
				rv.HasWebhookSecret = true
			}
		}
		d.Repositories = append(d.Repositories, rv)
	}
	v := view{Title: "Repositories of " + iv.ProviderLabel + " integration " + iv.Name, Nav: "integrations", Data: d}
	if res != nil && res.Error != "" {
		v.Error = "Repository " + repoName(list.Repositories, res.RepositoryID) + ": " + res.Error
	}
	c.page(w, status, "repositories", v)
}

func repoName(repos []repository, id string) string {
	for _, r := range repos {
		if r.ID == id {
			return r.FullName
		}
	}
	return id
}

// canAutoRegister says whether to offer "Register webhook automatically":
// the provider announces project webhooks, the connection's scopes allow
// them (when the host reports capabilities), and the host serves the
// endpoint (a GET probe of it answers something other than 404).
func (h *Handler) canAutoRegister(c call, cat catalog, iv integrationView, repos []repository) (bool, string) {
	info, _ := cat.get(iv.Provider)
	if !hasCapability(info, scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS) {
		return false, ""
	}
	if iv.Capabilities != nil && !containsString(iv.Capabilities, capabilityName(scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS)) {
		return false, "To register webhooks automatically, connect with credentials that may manage webhooks (for " +
			iv.ProviderLabel + ": " + strings.Join(writeScopes(info), " or ") + ")."
	}
	if len(repos) == 0 || !h.routeServed(http.MethodPost, apiPath(nil, "integration-repositories", repos[0].ID, iv.Provider+"-webhook")) {
		return false, ""
	}
	return true, ""
}

// routeServed reports whether the API serves method and path, without
// calling it: an API that is an http.ServeMux (the reference host's is) says
// which pattern would answer, and a catch-all "/" does not count. An API
// that cannot say is assumed to serve it until it answers "no such
// endpoint", which the handler then remembers.
func (h *Handler) routeServed(method, path string) bool {
	key := method + " " + routeKey(path)
	if _, missing := h.missingRoutes.Load(key); missing {
		return false
	}
	m, ok := h.api.h.(interface {
		Handler(*http.Request) (http.Handler, string)
	})
	if !ok {
		return true
	}
	req, err := http.NewRequest(method, path, http.NoBody)
	if err != nil {
		return false
	}
	_, pattern := m.Handler(req)
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	return strings.HasSuffix(pattern, "/"+last)
}

// routeKey drops the ids from an API path, keeping its shape:
// /v1/integration-repositories/{}/gitlab-webhook.
func routeKey(path string) string {
	parts := strings.Split(path, "/")
	if len(parts) >= 4 {
		parts[3] = "{}"
	}
	return strings.Join(parts, "/")
}

// isMissingRoute says the API has no such endpoint at all (as opposed to a
// missing repository).
func isMissingRoute(ae *apiError) bool {
	return (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) &&
		strings.HasPrefix(strings.ToLower(ae.Message), "no such endpoint")
}

// writeScopes are the scopes a provider recommends for token connections
// (the first of its default scopes), as a hint.
func writeScopes(info *scmv1.ProviderInfo) []string {
	for _, m := range info.GetAuthModes() {
		if m.GetMode() == scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN && len(m.GetDefaultScopes()) > 0 {
			return m.GetDefaultScopes()[:1]
		}
	}
	return []string{"a scope that allows it"}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// panelForm reads the hidden fields that bring the person back to the same
// list page after an action on a repository's panel.
func panelForm(r *http.Request) (integrationID, search string, page int) {
	p, err := strconv.Atoi(r.PostFormValue("page"))
	if err != nil || p < 1 {
		p = 1
	}
	return r.PostFormValue("integration_id"), r.PostFormValue("q"), p
}

// Secret kinds, as the API's ?type= names them: "token" (the API's default,
// sent as is with each delivery: GitLab's "Secret token") or
// "signing_token" (a Standard Webhooks key GitLab 17.x signs deliveries
// with: GitLab's "Signing token").
const (
	secretToken  = "token"
	signingToken = "signing_token"
)

// secretQuery reads the panel's secret kind into the API's query. An empty
// choice (a form without the radios) leaves the API's default; anything
// else is refused before the API is asked.
func secretQuery(r *http.Request) (url.Values, bool) {
	switch kind := r.PostFormValue("secret_type"); kind {
	case "":
		return nil, true
	case secretToken, signingToken:
		return url.Values{"type": {kind}}, true
	}
	return nil, false
}

// badSecretKind is the panel's answer to a secret kind the form does not
// offer.
const badSecretKind = "Choose a secret token or a signing token, then try again."

// rotateWebhookSecret generates or rotates a repository's webhook secret and
// shows it, once, in the answer to this POST: it is never stored by the UI,
// put in a URL or shown again.
func (h *Handler) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, c call) {
	repoID := r.PathValue("id")
	intID, search, page := panelForm(r)
	det, err := c.loadIntegration(intID)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	pr := &panelResult{RepositoryID: repoID, SigningToken: r.PostFormValue("secret_type") == signingToken}
	q, ok := secretQuery(r)
	if !ok {
		pr.Error, pr.SigningToken = badSecretKind, false
		h.showRepositories(w, r, c, intID, search, page, http.StatusBadRequest, pr)
		return
	}
	var res webhookSecretResponse
	err = c.do(http.MethodPost, apiPath(q, "integration-repositories", repoID, det.Integration.Provider+"-webhook-secret"), struct{}{}, &res)
	status := http.StatusOK
	if err != nil {
		ae := asAPIError(err)
		if ae.isSessionError() {
			h.apiFailed(w, r, err)
			return
		}
		pr.Error, status = ae.text(), ae.Status
	} else {
		pr.Secret, pr.WebhookURL = res.WebhookSecret, res.WebhookURL
		what := "webhook secret"
		if pr.SigningToken {
			what = "webhook signing token"
		}
		pr.Notice = "New " + what + " generated. Copy it now: it is shown only once. The previous secret no longer works."
	}
	h.showRepositories(w, r, c, intID, search, page, status, pr)
}

// registerWebhook asks the host to create (or update) the repository's
// webhook at the provider.
func (h *Handler) registerWebhook(w http.ResponseWriter, r *http.Request, c call) {
	repoID := r.PathValue("id")
	intID, search, page := panelForm(r)
	det, err := c.loadIntegration(intID)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	pr := &panelResult{RepositoryID: repoID, SigningToken: r.PostFormValue("secret_type") == signingToken}
	q, ok := secretQuery(r)
	if !ok {
		pr.Error, pr.SigningToken = badSecretKind, false
		h.showRepositories(w, r, c, intID, search, page, http.StatusBadRequest, pr)
		return
	}
	var res projectWebhookResponse
	err = c.do(http.MethodPost, apiPath(q, "integration-repositories", repoID, det.Integration.Provider+"-webhook"), struct{}{}, &res)
	status := http.StatusOK
	if err != nil {
		ae := asAPIError(err)
		switch {
		case ae.isSessionError():
			h.apiFailed(w, r, err)
			return
		case isMissingRoute(ae):
			h.missingRoutes.Store(http.MethodPost+" "+routeKey(apiPath(nil, "integration-repositories", repoID, det.Integration.Provider+"-webhook")), true)
			pr.Error = "This host does not register webhooks automatically: add the webhook by hand with the URL and a generated secret."
		default:
			pr.Error = ae.text()
		}
		status = ae.Status
	} else {
		pr.Notice = "Webhook registered at " + newCatalog(h.providers).displayName(det.Integration.Provider)
		// The API's answer says which kind it registered (an older host
		// says nothing, and registered a secret token).
		switch res.SecretType {
		case signingToken:
			pr.Notice += " with a signing token: it signs each delivery."
			pr.SigningToken = true
		case secretToken:
			pr.Notice += " with a secret token."
			pr.SigningToken = false
		default:
			pr.Notice += "."
		}
		if res.URL != "" {
			pr.WebhookURL = res.URL
		}
	}
	h.showRepositories(w, r, c, intID, search, page, status, pr)
}
