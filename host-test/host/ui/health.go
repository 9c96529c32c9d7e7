package ui

import (
	"time"
)

// health is an integration's credential health as a person reads it.
type health struct {
	Label string
	// Tone is "ok", "warn", "bad" or "muted": how the badge looks. The
	// label alone carries the meaning.
	Tone   string
	Detail string
}

// expiringWindow is when a token that still works is shown as expiring.
const expiringWindow = 30 * 24 * time.Hour

// credentialHealth reads an integration's health from what the API says of
// it: the host's last credential check when it reports one, else its status
// and the token's expiry.
func credentialHealth(i integration, now time.Time) health {
	if i.CredentialStatus != "" {
		return fromCheck(credentialStatusResponse{Status: i.CredentialStatus, ExpiresAt: i.TokenExpiresAt, Detail: i.CredentialDetail}, now)
	}
	switch {
	case i.ReconnectRequired:
		return health{Label: "Reconnect required", Tone: "bad", Detail: i.StatusReason}
	case i.Status == "error":
		return health{Label: "Error", Tone: "bad", Detail: i.StatusReason}
	case i.Status == "inactive" && i.AuthMode == "oauth_app":
		return health{Label: "Not authorized yet", Tone: "warn", Detail: "Authorize the application to finish connecting."}
	case i.AuthMode == "oauth_app":
		return health{Label: "Valid", Tone: "ok", Detail: "Access is refreshed automatically."}
	case i.TokenExpiresAt > 0:
		exp := time.Unix(i.TokenExpiresAt, 0)
		switch {
		case !now.Before(exp):
			return health{Label: "Expired", Tone: "bad", Detail: "Expired " + exp.UTC().Format("2006-01-02") + ". Replace the token."}
		case exp.Sub(now) < expiringWindow:
			return health{Label: "Expiring", Tone: "warn", Detail: "Expires " + exp.UTC().Format("2006-01-02") + "."}
		}
		return health{Label: "Valid", Tone: "ok", Detail: "Expires " + exp.UTC().Format("2006-01-02") + "."}
	case i.Status == "active":
		return health{Label: "Valid", Tone: "ok", Detail: i.StatusReason}
	}
	return health{Label: "Not checked", Tone: "muted"}
}

// fromCheck is the health a credential check answered.
func fromCheck(c credentialStatusResponse, now time.Time) health {
	h := health{Detail: c.Detail}
	if h.Detail == "" && c.ExpiresAt > 0 {
		verb := "Expires "
		if !now.Before(time.Unix(c.ExpiresAt, 0)) {
			verb = "Expired "
		}
		h.Detail = verb + time.Unix(c.ExpiresAt, 0).UTC().Format("2006-01-02") + "."
	}
	switch c.Status {
	case "valid":
		h.Label, h.Tone = "Valid", "ok"
	case "expiring":
		h.Label, h.Tone = "Expiring", "warn"
	case "expired":
		h.Label, h.Tone = "Expired", "bad"
	case "rejected":
		h.Label, h.Tone = "Rejected", "bad"
		if h.Detail == "" {
			h.Detail = "The provider refused the credentials: they were revoked or lack a scope."
		}
	default:
		h.Label, h.Tone = "Unknown", "muted"
		if h.Detail == "" {
			h.Detail = "The provider could not be asked. Try again later."
		}
	}
	return h
}
