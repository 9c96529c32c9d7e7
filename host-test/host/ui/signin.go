package ui

import (
	"net/http"
	"net/url"
	"strings"
)

// signinData is the sign-in form.
type signinData struct {
	Next       string
	TokenError string
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := h.session(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	v := view{Title: "Sign in", Data: signinData{Next: next}}
	if r.URL.Query().Get("expired") != "" {
		v.Notice = "Your session ended or its API token is no longer accepted. Sign in again."
	}
	h.render(w, r, http.StatusOK, "signin", v)
}

// signin checks the API token by asking the API with it, then starts a
// session. The token is never echoed back into the page.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	fail := func(status int, msg string) {
		h.render(w, r, status, "signin", view{Title: "Sign in", Data: signinData{Next: next, TokenError: msg}})
	}
	if token == "" {
		fail(http.StatusUnprocessableEntity, "Enter an API token of this host.")
		return
	}
	res, err := h.api.do(r.Context(), r, token, http.MethodGet, apiPath(url.Values{"limit": {"1"}}, "integrations"), nil)
	if err != nil {
		h.log.Warn("sign-in check failed", "error", err)
		fail(http.StatusBadGateway, "The host could not check the token. Try again.")
		return
	}
	switch {
	case res.Status == http.StatusUnauthorized:
		fail(http.StatusUnauthorized, "This host does not accept that API token. Check that you pasted all of it, and that it has not been deleted.")
		return
	case res.Status < 200 || res.Status > 299:
		fail(res.Status, decodeAPIError(res).text())
		return
	}
	csrf, err := newCSRFToken()
	if err != nil {
		fail(http.StatusInternalServerError, "The session could not be started. Try again.")
		return
	}
	sess := session{Token: token, CSRF: csrf, Expires: h.now().Add(h.ttl).Unix(), ReadOnly: h.readOnly(r, token)}
	if err := h.setSession(w, r, sess); err != nil {
		fail(http.StatusInternalServerError, "The session could not be started. Try again.")
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// roleProbeID is an integration id no host has (the reference host's ids
// are UUIDs), so the role probe can change nothing.
const roleProbeID = "oore-ui-role-probe"

// readOnly asks the API whether token may change integrations: Oore's API
// says nothing of a token's role, but it refuses a change to a read-only
// role with 403 before looking at the request. The probe is a repository
// sync of an integration that does not exist: an owner or admin token gets
// 404 and nothing happens. Any answer but 403 counts as "may change", so a
// host that cannot tell still shows the forms (and its API decides).
func (h *Handler) readOnly(r *http.Request, token string) bool {
	res, err := h.api.do(r.Context(), r, token, http.MethodPost, apiPath(nil, "integrations", roleProbeID, "installations"), struct{}{})
	if err != nil {
		h.log.Warn("sign-in role check failed", "error", err)
		return false
	}
	return res.Status == http.StatusForbidden
}

// signout ends the session. It needs the session's CSRF token so another
// site cannot sign a person out.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if sess, ok := h.session(r); ok && !csrfOK(sess, r) {
		h.renderError(w, r, http.StatusForbidden, "This form has expired. Reload the page and try again.")
		return
	}
	h.clearSession(w, r)
	http.Redirect(w, r, basePath+"/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination inside the UI.
func safeNext(next string) string {
	if !strings.HasPrefix(next, basePath+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, basePath+"/signin") {
		return basePath + "/integrations"
	}
	return next
}
