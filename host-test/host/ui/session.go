package ui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// sessionCookie is the cookie that holds the sealed session.
const sessionCookie = "oore_ui_session"

// sessionAAD binds sealed sessions to their purpose.
const sessionAAD = "oore-host-ui-session-v1"

// session is what the cookie carries, sealed: the API token the person signed
// in with and the CSRF token of their forms.
type session struct {
	Token string `json:"t"`
	CSRF  string `json:"c"`
	// Expires is a Unix time; the session is refused after it.
	Expires int64 `json:"e"`
	// ReadOnly: the API refused the token a change at sign-in (a developer
	// or qa_viewer role), so pages leave out the forms that can only fail.
	// False for sessions sealed before it existed: the forms show, and the
	// API still refuses.
	ReadOnly bool `json:"ro,omitempty"`
}

// sealer seals and opens sessions with AES-256-GCM.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("ui session key: want 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("ui session key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("ui session key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(sess session) (string, error) {
	plain, err := json.Marshal(sess)
	if err != nil {
		return "", fmt.Errorf("seal session: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal session: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(sessionAAD))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

var errNoSession = errors.New("no valid session")

func (s *sealer) open(value string, now time.Time) (session, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return session{}, errNoSession
	}
	nonce, box := raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():]
	plain, err := s.aead.Open(nil, nonce, box, []byte(sessionAAD))
	if err != nil {
		return session{}, errNoSession
	}
	var sess session
	if json.Unmarshal(plain, &sess) != nil || sess.Token == "" || sess.CSRF == "" || now.Unix() >= sess.Expires {
		return session{}, errNoSession
	}
	return sess, nil
}

// newCSRFToken is 32 random bytes, base64url.
func newCSRFToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new csrf token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// csrfOK compares the form's token with the session's in constant time.
func csrfOK(sess session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// setSession writes the sealed session cookie.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, sess session) error {
	v, err := h.sealer.seal(sess)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: v, Path: basePath + "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secure(r),
	})
	return nil
}

// clearSession removes the cookie.
func (h *Handler) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: basePath + "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secure(r),
	})
}

// session reads the request's session, if it has a valid one.
func (h *Handler) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	sess, err := h.sealer.open(c.Value, h.now())
	return sess, err == nil
}
