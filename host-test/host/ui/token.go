package ui

import (
	"net/http"
	"strings"
	"time"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// tokenField is the name of the replace-token form's input, and of the
// API's body field (Oore's ReplaceGitLabTokenRequest.access_token).
const tokenField = "access_token"

// tokenForm is the "Replace token" form of a personal-token integration.
type tokenForm struct {
	Field formField
	// Scopes reads like "read_repository, and api or read_api".
	Scopes string
}

// newTokenForm draws the form from the provider's personal-token auth mode:
// its secret field's label and help, and its required scopes, so another
// provider's words show without UI code. The value is never filled in.
func newTokenForm(cat catalog, iv integrationView) tokenForm {
	f := formField{Name: tokenField, Label: "Access token", Secret: true, Required: true, Kind: "password"}
	var tf tokenForm
	var fieldHelp string
	if info, ok := cat.get(iv.Provider); ok {
		for _, m := range info.GetAuthModes() {
			if m.GetMode() != scmv1.AuthMode_AUTH_MODE_PERSONAL_TOKEN {
				continue
			}
			tf.Scopes = scopeText(m.GetRequiredScopes())
			for _, pf := range m.GetFields() {
				if pf.GetSecret() {
					if pf.GetLabel() != "" {
						f.Label = pf.GetLabel()
					}
					f.Placeholder, fieldHelp = pf.GetPlaceholder(), pf.GetHelp()
					break
				}
			}
		}
	}
	f.Label = "New " + lowerFirst(f.Label)
	// The API refuses a token of another account (409 account_mismatch):
	// say so before the person makes one.
	if iv.AccountUsername != "" {
		f.Help = "A token of @" + iv.AccountUsername + ", the " + iv.ProviderLabel + " account this integration acts as."
	}
	if fieldHelp != "" {
		f.Help = strings.TrimSpace(f.Help + " " + fieldHelp)
	}
	tf.Field = f
	return tf
}

// replaceToken sends a new personal access token to the API
// (PUT /v1/integrations/{id}/{provider}-token), which checks that it works,
// carries the scopes and belongs to the same account before saving it. The
// token is never rendered, logged or put in a URL: the answer is the
// integration page with the new token's health, or the API's error next to
// the field.
func (h *Handler) replaceToken(w http.ResponseWriter, r *http.Request, c call) {
	id := r.PathValue("id")
	d, err := c.loadIntegration(id)
	if err != nil {
		h.apiFailed(w, r, err)
		return
	}
	token := strings.TrimSpace(r.PostFormValue(tokenField))
	if token == "" {
		h.showIntegrationForm(w, r, c, http.StatusUnprocessableEntity, view{Error: "The token was not replaced: paste the new token."},
			"Paste the new token.")
		return
	}
	var res credentialStatusResponse
	err = c.do(http.MethodPut, apiPath(nil, "integrations", id, d.Integration.Provider+"-token"),
		map[string]string{tokenField: token}, &res)
	if err != nil {
		ae := asAPIError(err)
		if ae.isSessionError() {
			h.apiFailed(w, r, err)
			return
		}
		fe := placeError(ae, []formField{{Name: tokenField, Secret: true}})
		// The API keeps secrets out of its errors; the page makes sure.
		fieldErr, general := redact(fe.Fields[tokenField], token), redact(fe.General, token)
		if general == "" {
			general = "The token was not replaced: see the message at the field. The old token is still in use."
		} else {
			general = "The token was not replaced: " + general
		}
		status := ae.Status
		if status < 400 {
			status = http.StatusBadGateway
		}
		if status >= 500 {
			h.log.Warn("token replacement failed", "integration_id", id, "status", ae.Status, "code", ae.Code)
		}
		h.showIntegrationForm(w, r, c, status, view{Error: general}, fieldErr)
		return
	}
	h.showIntegrationForm(w, r, c, http.StatusOK, view{Notice: h.replacedNotice(c, id, res, token)}, "")
}

// replacedNotice says what the API answered of the new token (its status
// and expiry) and what the host now knows of the connection (the account
// and the scopes the token carries).
func (h *Handler) replacedNotice(c call, id string, res credentialStatusResponse, token string) string {
	hl := fromCheck(res, h.now())
	msg := "Token replaced. Credentials: " + hl.Label + "."
	switch {
	case res.ExpiresAt > 0:
		msg += " Expires " + time.Unix(res.ExpiresAt, 0).UTC().Format("2006-01-02") + "."
	case hl.Detail != "":
		msg += " " + sentence(redact(hl.Detail, token))
	}
	if d, err := c.loadIntegration(id); err == nil {
		if a := d.Integration.AccountUsername; a != "" {
			msg += " Account: @" + a + "."
		}
		if sc := d.Integration.Scopes; len(sc) > 0 {
			msg += " Scopes: " + strings.Join(sc, ", ") + "."
		}
	}
	return msg
}

// redact removes secret from s, in case an answer ever echoed it.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[the token]")
}
