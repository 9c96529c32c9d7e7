package ui

import (
	"net/http"
	"net/url"
	"strings"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

type providersData struct {
	Providers []providerLink
}

func (h *Handler) providersPage(w http.ResponseWriter, r *http.Request, c call) {
	cat := newCatalog(h.providers)
	c.page(w, http.StatusOK, "providers", view{Title: "Connect a provider", Nav: "integrations", Data: providersData{Providers: providerLinks(cat)}})
}

// connectData is the connect form of one provider, in one auth mode.
type connectData struct {
	Provider      string
	ProviderLabel string
	Help          string
	// Modes are every way to connect, for the switcher; Mode is the chosen.
	Modes []modeLink
	Mode  authModeView
	// Action is where the form posts.
	Action string
}

type modeLink struct {
	Mode, Label, URL string
	Current          bool
}

// connectForm builds the form of provider in mode ("" = the first mode).
func (h *Handler) connectForm(r *http.Request, info *scmv1.ProviderInfo, mode string) (connectData, bool) {
	name := info.GetName()
	redirect := h.public(r) + "/v1/integrations/" + url.PathEscape(name) + "/callback"
	modes := authModes(info, redirect)
	if len(modes) == 0 {
		return connectData{}, false
	}
	chosen := -1
	for i, m := range modes {
		if m.Mode == mode {
			chosen = i
		}
	}
	if mode == "" {
		chosen = 0
	}
	if chosen < 0 {
		return connectData{}, false
	}
	d := connectData{
		Provider: name, ProviderLabel: info.GetDisplayName(), Mode: modes[chosen],
		Action: basePath + "/connect/" + url.PathEscape(name),
	}
	if d.ProviderLabel == "" {
		d.ProviderLabel = name
	}
	for i, m := range modes {
		d.Modes = append(d.Modes, modeLink{Mode: m.Mode, Label: m.Label, Current: i == chosen,
			URL: d.Action + "?mode=" + url.QueryEscape(m.Mode)})
	}
	return d, true
}

func (h *Handler) connectPage(w http.ResponseWriter, r *http.Request, c call) {
	info, ok := newCatalog(h.providers).get(r.PathValue("provider"))
	if !ok {
		h.renderError(w, r, http.StatusNotFound, "This host serves no provider named "+r.PathValue("provider")+".")
		return
	}
	d, ok := h.connectForm(r, info, r.URL.Query().Get("mode"))
	if !ok {
		h.renderError(w, r, http.StatusNotFound, newCatalog(h.providers).displayName(info.GetName())+" has no such way to connect.")
		return
	}
	c.page(w, http.StatusOK, "connect", view{Title: "Connect " + d.ProviderLabel, Nav: "integrations", Data: d})
}

// connect creates the integration through the API. A token integration is
// connected at once; an OAuth one sends the browser to the provider.
func (h *Handler) connect(w http.ResponseWriter, r *http.Request, c call) {
	info, ok := newCatalog(h.providers).get(r.PathValue("provider"))
	if !ok {
		h.renderError(w, r, http.StatusNotFound, "This host serves no provider named "+r.PathValue("provider")+".")
		return
	}
	d, ok := h.connectForm(r, info, r.PostFormValue("auth_mode"))
	if !ok || r.PostFormValue("auth_mode") == "" {
		h.renderError(w, r, http.StatusBadRequest, "Choose how to connect, then fill in the form again.")
		return
	}
	body := map[string]any{"auth_mode": d.Mode.Mode}
	missing := false
	for i := range d.Mode.Fields {
		f := &d.Mode.Fields[i]
		val := strings.TrimSpace(r.PostFormValue(f.Name))
		if !f.Secret {
			f.Value = val
		}
		if val == "" {
			if f.Required {
				f.Error = "Enter the " + lowerFirst(f.Label) + "."
				missing = true
			}
			continue
		}
		body[f.Name] = val
	}
	title := "Connect " + d.ProviderLabel
	if missing {
		c.page(w, http.StatusUnprocessableEntity, "connect", view{Title: title, Nav: "integrations", Data: d,
			Error: "Some fields need your attention."})
		return
	}
	var res integrationResponse
	err := c.do(http.MethodPost, apiPath(nil, "integrations", d.Provider, "start"), body, &res)
	if err != nil {
		ae := asAPIError(err)
		if ae.isSessionError() {
			h.apiFailed(w, r, err)
			return
		}
		fe := placeError(ae, d.Mode.Fields)
		for i := range d.Mode.Fields {
			d.Mode.Fields[i].Error = fe.Fields[d.Mode.Fields[i].Name]
		}
		v := view{Title: title, Nav: "integrations", Data: d, Error: fe.General}
		if v.Error == "" {
			v.Error = "The integration was not connected: check the fields marked below."
		}
		status := ae.Status
		if status < 400 {
			status = http.StatusBadGateway
		}
		c.page(w, status, "connect", v)
		return
	}
	id := res.Integration.ID
	if !d.Mode.OAuth || res.Integration.Status == "active" {
		http.Redirect(w, r, basePath+"/integrations/"+url.PathEscape(id)+"?connected=1", http.StatusSeeOther)
		return
	}
	to, err := h.authorizeURL(c, d.Provider, id)
	if err != nil {
		ae := asAPIError(err)
		r.SetPathValue("id", id)
		h.showIntegration(w, r, c, http.StatusOK, view{Error: "The integration was saved, but the authorization could not start: " + ae.text()})
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// lowerFirst lower-cases a label's first word for use inside a sentence,
// unless it looks like a name ("GitLab URL").
func lowerFirst(s string) string {
	if s == "" || s[0] >= 0x80 {
		return s
	}
	first, _, _ := strings.Cut(s, " ")
	if len(first) > 1 && strings.ToUpper(first[:2]) == first[:2] {
		return s
	}
	if len(first) > 1 && strings.ContainsAny(first[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
