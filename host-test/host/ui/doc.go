// Package ui is the reference host's small web UI for SCM integrations:
// Settings > Integrations, connecting a provider (with a personal token or an
// OAuth application), replacing a personal token that expires, an
// integration's repositories with their webhook panels (a secret token or a
// signing token), and recent webhook deliveries.
//
// It is server-rendered Go html/template with embedded assets: no build step,
// and every page works without JavaScript (a little progressive JavaScript
// adds copy buttons). It keeps no business logic of its own: every action is
// a call to the host's JSON HTTP API, made in-process with the signed-in
// user's API token, so the UI says and does exactly what the API does.
//
// The connect form is drawn from the provider's own description
// (scm.v1 ProviderInfo: its auth modes, their form fields, labels, help and
// which fields are secret), so a second provider gets its form without UI
// code.
//
// Security: sign-in takes an API token and keeps it in a sealed
// (AES-256-GCM) HttpOnly, SameSite=Strict cookie, Secure when the UI is
// served over https; every POST carries a CSRF token tied to the session and
// is refused when it comes from another origin; every answer has a
// Content-Security-Policy and Cache-Control: no-store. No secret is ever
// rendered except a webhook secret, once, right after it was generated (a
// replaced personal token is never echoed, redirected with or logged). At
// sign-in the UI asks the API whether the token may change integrations (a
// change it refuses to a read-only role: see readOnly), and leaves the forms
// that can only fail out of a read-only person's pages.
//
// What it is not: Oore's product UI. It is the reference host's page set, so
// `make run` can be tried in a browser and the OAuth round trip is tested the
// way a person does it.
package ui
