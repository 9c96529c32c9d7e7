package host

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/oore-ci/oore-scm-gitlab/host-test/host/secrets"
	"github.com/oore-ci/oore-scm-gitlab/host-test/host/store"
)

// Role is what an API token may do. owner and admin manage integrations;
// developer and qa_viewer only read them.
type Role string

// The roles Oore knows.
const (
	RoleOwner     Role = "owner"
	RoleAdmin     Role = "admin"
	RoleDeveloper Role = "developer"
	RoleQAViewer  Role = "qa_viewer"
)

// Roles lists every role.
var Roles = []Role{RoleOwner, RoleAdmin, RoleDeveloper, RoleQAViewer}

// ParseRole reads a role name.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// CanManage reports whether the role may create, change and delete integrations.
func (r Role) CanManage() bool { return r == RoleOwner || r == RoleAdmin }

// access is what a route needs.
type access int

const (
	public access = iota // no token (webhooks, the OAuth callback, health)
	read                 // any role
	manage               // owner or admin
)

// tokenPrefix marks the host's API tokens, so a leaked one is recognisable.
const tokenPrefix = "oore_"

// HashToken is the SHA-256 of an API token: what the store keeps and looks up.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateToken mints a new API token with a role, stores its hash and returns
// the token (shown once).
func CreateToken(ctx context.Context, st store.Store, role Role, name string) (string, error) {
	if _, ok := ParseRole(string(role)); !ok {
		return "", fmt.Errorf("create token: unknown role %q (owner, admin, developer, qa_viewer)", role)
	}
	token := secrets.RandomToken(tokenPrefix, 32)
	if err := st.CreateAPIToken(ctx, store.APIToken{Name: name, Role: string(role), Hash: HashToken(token)}); err != nil {
		return "", fmt.Errorf("create %s token %s: %w", role, name, err)
	}
	return token, nil
}

// EnsureBootstrapToken makes token an owner token (OORE_BOOTSTRAP_TOKEN).
func EnsureBootstrapToken(ctx context.Context, st store.Store, token string) error {
	if len(token) < 16 {
		return errors.New("bootstrap token: must be at least 16 characters")
	}
	if err := st.EnsureAPIToken(ctx, store.APIToken{Name: "bootstrap", Role: string(RoleOwner), Hash: HashToken(token)}); err != nil {
		return fmt.Errorf("bootstrap token: %w", err)
	}
	return nil
}

// caller is who made a request.
type caller struct {
	TokenID string
	Name    string
	Role    Role
}

type callerKey struct{}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// authenticate finds the caller of r by its bearer token. The token is
// looked up by its SHA-256 and the hashes compared in constant time.
func (h *Host) authenticate(r *http.Request) (caller, *apiError) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return caller{}, newError(http.StatusUnauthorized, codeMissingToken, "an API token is required: Authorization: Bearer <token>")
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return caller{}, newError(http.StatusUnauthorized, codeMissingToken, "the Authorization header must be: Bearer <token>")
	}
	want := HashToken(token)
	t, err := h.store.APITokenByHash(r.Context(), want)
	if errors.Is(err, store.ErrNotFound) || (err == nil && subtle.ConstantTimeCompare(t.Hash, want) != 1) {
		return caller{}, newError(http.StatusUnauthorized, codeInvalidToken, "the API token is not valid")
	}
	if err != nil {
		return caller{}, internalError("check the API token", err)
	}
	role, ok := ParseRole(t.Role)
	if !ok {
		return caller{}, newError(http.StatusForbidden, codeForbidden, "the API token has no known role")
	}
	return caller{TokenID: t.ID, Name: t.Name, Role: role}, nil
}

// authorize checks the caller may do what the route needs.
func authorize(c caller, need access) *apiError {
	if need == manage && !c.Role.CanManage() {
		return newError(http.StatusForbidden, codeForbidden, fmt.Sprintf("role %s may read integrations but not change them; an owner or admin token is required", c.Role))
	}
	return nil
}
