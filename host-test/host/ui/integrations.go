package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// integrationView is one integration as the pages show it.
type integrationView struct {
	integration
	ProviderLabel string
	ModeLabel     string
	Name          string
	Health        health
	// CanAuthorize: an OAuth integration that needs the person to
	// authorize (again) at the provider.
	CanAuthorize bool
	// CanCheck: the API checks this kind of credentials (Oore checks
	// personal tokens; OAuth access is refreshed instead).
	CanCheck bool
	// CanSync: the integration is connected, so its repositories can be
	// synced again.
	CanSync bool
	// CanReplaceToken: a personal-token integration, whose token can be
	// replaced (after it expires, or before).
	CanReplaceToken bool
}

func (h *Handler) integrationView(cat catalog, i integration) integrationView {
	v := integrationView{
		integration:   i,
		ProviderLabel: cat.displayName(i.Provider),
		ModeLabel:     modeLabel(cat, i.Provider, i.AuthMode),
		Health:        credentialHealth(i, h.now()),
		CanAuthorize:  i.AuthMode == "oauth_app" && (i.Status != "active" || i.ReconnectRequired),
		CanCheck:      i.AuthMode == "personal_token" && i.Status != "inactive",
		CanSync:       i.Status == "active",
		// Any status: an expired or revoked token is exactly when.
		CanReplaceToken: i.AuthMode == "personal_token",
	}
	switch {
	case i.DisplayName != "":
		v.Name = i.DisplayName
	case i.AccountUsername != "":
		v.Name = "@" + i.AccountUsername
	default:
		v.Name = i.HostURL
	}
	return v
}

// modeLabel is the provider's own label for an auth mode.
func modeLabel(cat catalog, provider, mode string) string {
	if info, ok := cat.get(provider); ok {
		for _, m := range info.GetAuthModes() {
			if modeName(m.GetMode()) == mode && m.GetLabel() != "" {
				return m.GetLabel()
			}
		}
	}
	switch mode {
	case "personal_token":
		return "Personal access token"
	case "oauth_app":
		return "OAuth application"
	}
	return strings.ReplaceAll(mode, "_", " ")
}

type integrationsData struct {
	Integrations []integrationView
	Providers    []providerLink
	Pager        pager
	ActiveTotal  int64
}

type providerLink struct {
	Name, Label, URL string
}

func providerLinks(cat catalog) []providerLink {
	out := make([]providerLink, 0, len(cat))
	for _, i := range cat {
		out = append(out, providerLink{Name: i.GetName(), Label: cat.displayName(i.GetName()), URL: basePath + "/connect/" + url.PathEscape(i.GetName())})
	}
	return out
}

func (h *Handler) integrationsPage(w http.ResponseWriter, r *http.Request, c call) {
	q := r.URL.Query()
	page := pageOf(q)
	var res listIntegrationsResponse
	err := c.do(http.MethodGet, apiPath(url.Values{
		"limit": {strconv.Itoa(pageSize)}, "offset": {strconv.FormatInt(offsetOf(page), 10)},
	}, "integrations"), nil, &res)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	cat := newCatalog(h.providers)
	d := integrationsData{Providers: providerLinks(cat), ActiveTotal: res.ActiveTotal,
		Pager: newPager(basePath+"/integrations", q, page, len(res.Integrations), res.Total)}
	for _, i := range res.Integrations {
		d.Integrations = append(d.Integrations, h.integrationView(cat, i))
	}
	v := view{Title: "Integrations", Nav: "integrations", Data: d}
	if name := q.Get("deleted"); name != "" {
		v.Notice = "Deleted the integration " + name + "."
	}
	c.page(w, http.StatusOK, "integrations", v)
}

type integrationData struct {
	Integration       integrationView
	InstallationCount int64
	RepositoryCount   int64
	LastWebhookAt     int64
	// Token is the replace-token form (personal-token integrations).
	Token tokenForm
}

// loadIntegration reads one integration's detail.
func (c call) loadIntegration(id string) (integrationDetailResponse, error) {
	var d integrationDetailResponse
	err := c.do(http.MethodGet, apiPath(nil, "integrations", id), nil, &d)
	return d, err
}

func (h *Handler) integrationPage(w http.ResponseWriter, r *http.Request, c call) {
	v := view{}
	switch {
	case r.URL.Query().Get("connected") != "":
		v.Notice = "Connected."
	case r.URL.Query().Get("synced") != "":
		v.Notice = "Repositories synced."
	}
	h.showIntegration(w, r, c, http.StatusOK, v)
}

// showIntegration draws the integration page with v's notice or error.
func (h *Handler) showIntegration(w http.ResponseWriter, r *http.Request, c call, status int, v view) {
	h.showIntegrationForm(w, r, c, status, v, "")
}

// showIntegrationForm is showIntegration with tokenErr next to the
// replace-token field.
func (h *Handler) showIntegrationForm(w http.ResponseWriter, r *http.Request, c call, status int, v view, tokenErr string) {
	d, err := c.loadIntegration(r.PathValue("id"))
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	cat := newCatalog(h.providers)
	iv := h.integrationView(cat, d.Integration)
	if v.Notice == "Connected." && iv.AccountUsername != "" {
		v.Notice = "Connected to " + iv.ProviderLabel + " as @" + iv.AccountUsername + "."
	}
	v.Title, v.Nav = iv.ProviderLabel+" integration: "+iv.Name, "integrations"
	tf := newTokenForm(cat, iv)
	tf.Field.Error = tokenErr
	v.Data = integrationData{Integration: iv, InstallationCount: d.InstallationCount, RepositoryCount: d.RepositoryCount, LastWebhookAt: d.LastWebhookAt,
		Token: tf}
	c.page(w, status, "integration", v)
}

// checkCredentials asks the API to check the integration's credentials and
// shows the answer.
func (h *Handler) checkCredentials(w http.ResponseWriter, r *http.Request, c call) {
	id := r.PathValue("id")
	d, err := c.loadIntegration(id)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	var res credentialStatusResponse
	err = c.do(http.MethodPost, apiPath(nil, "integrations", id, d.Integration.Provider+"-token", "check"), struct{}{}, &res)
	if err != nil {
		ae := asAPIError(err)
		if ae.isSessionError() {
			h.apiFailed(w, r, err)
			return
		}
		h.showIntegration(w, r, c, http.StatusOK, view{Error: "The credentials could not be checked: " + ae.text()})
		return
	}
	hl := fromCheck(res, h.now())
	msg := "Credentials checked: " + hl.Label + "."
	if hl.Detail != "" {
		msg += " " + hl.Detail
	}
	h.showIntegration(w, r, c, http.StatusOK, view{Notice: msg})
}

// syncRepositories asks the API to sync the integration's repositories.
func (h *Handler) syncRepositories(w http.ResponseWriter, r *http.Request, c call) {
	id := r.PathValue("id")
	if err := c.do(http.MethodPost, apiPath(nil, "integrations", id, "installations"), struct{}{}, nil); err != nil {
		ae := asAPIError(err)
		if ae.isSessionError() {
			h.apiFailed(w, r, err)
			return
		}
		h.showIntegration(w, r, c, http.StatusOK, view{Error: "The repositories could not be synced: " + ae.text()})
		return
	}
	http.Redirect(w, r, basePath+"/integrations/"+url.PathEscape(id)+"?synced=1", http.StatusSeeOther)
}

// reauthorize sends the person to the provider to authorize an OAuth
// integration (again).
func (h *Handler) reauthorize(w http.ResponseWriter, r *http.Request, c call) {
	id := r.PathValue("id")
	d, err := c.loadIntegration(id)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	to, err := h.authorizeURL(c, d.Integration.Provider, id)
	if err != nil {
		ae := asAPIError(err)
		if ae.isSessionError() {
			h.apiFailed(w, r, err)
			return
		}
		h.showIntegration(w, r, c, http.StatusOK, view{Error: "The authorization could not start: " + ae.text()})
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// authorizeURL asks the API for the provider's authorize URL; the provider
// sends the browser back through the host's callback to /ui/oauth/return.
func (h *Handler) authorizeURL(c call, provider, integrationID string) (string, error) {
	var res authorizeResponse
	err := c.do(http.MethodPost, apiPath(nil, "integrations", provider, "authorize"), map[string]string{
		"integration_id": integrationID,
		"redirect_url":   h.public(c.r) + basePath + "/oauth/return",
	}, &res)
	if err != nil {
		return "", err
	}
	u, perr := url.Parse(res.AuthorizeURL)
	if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", &apiError{Status: http.StatusBadGateway, Code: "invalid_authorize_url", Message: "The host answered with an authorize address that is not a web address"}
	}
	return res.AuthorizeURL, nil
}

func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request, c call) {
	h.showDelete(w, r, c, http.StatusOK, "")
}

func (h *Handler) showDelete(w http.ResponseWriter, r *http.Request, c call, status int, errMsg string) {
	d, err := c.loadIntegration(r.PathValue("id"))
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	iv := h.integrationView(newCatalog(h.providers), d.Integration)
	c.page(w, status, "delete", view{Title: "Delete " + iv.ProviderLabel + " integration " + iv.Name, Nav: "integrations", Error: errMsg,
		Data: integrationData{Integration: iv, InstallationCount: d.InstallationCount, RepositoryCount: d.RepositoryCount, LastWebhookAt: d.LastWebhookAt}})
}

// deleteIntegration deletes after the confirmation page's POST.
func (h *Handler) deleteIntegration(w http.ResponseWriter, r *http.Request, c call) {
	id := r.PathValue("id")
	d, err := c.loadIntegration(id)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	if err := c.do(http.MethodDelete, apiPath(nil, "integrations", id), nil, nil); err != nil {
		ae := asAPIError(err)
		if ae.isSessionError() {
			h.apiFailed(w, r, err)
			return
		}
		h.showDelete(w, r, c, ae.Status, "The integration was not deleted: "+ae.text())
		return
	}
	name := h.integrationView(newCatalog(h.providers), d.Integration).Name
	http.Redirect(w, r, basePath+"/integrations?deleted="+url.QueryEscape(name), http.StatusSeeOther)
}
