package ui

import (
	"net/http"
	"net/url"
)

type oauthReturnData struct {
	Next string
}

// oauthReturn is where the host's OAuth callback sends the browser after a
// successful authorization (redirect_url?<provider>=success&integration_id=…).
//
// The browser arrives here from the provider's site, so a SameSite=Strict
// session cookie is not sent with this request. The page therefore needs no
// session: it moves the browser on with a same-site navigation (a meta
// refresh, and a link for those who turned refreshes off), with which the
// cookie is sent again.
func (h *Handler) oauthReturn(w http.ResponseWriter, r *http.Request) {
	next := basePath + "/integrations"
	if id := r.URL.Query().Get("integration_id"); id != "" {
		next = basePath + "/integrations/" + url.PathEscape(id) + "?connected=1"
	}
	h.render(w, r, http.StatusOK, "oauth_return", view{Title: "Authorized", Refresh: "0;url=" + next, Data: oauthReturnData{Next: next}})
}
