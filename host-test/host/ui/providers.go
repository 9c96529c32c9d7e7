package ui

import (
	"slices"
	"sort"
	"strings"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
)

// Providers lists the provider plugins the host serves, by what each says of
// itself. The connect forms are drawn from these descriptions.
type Providers interface {
	// ProviderInfos returns every served provider's info. The UI does not
	// change the values.
	ProviderInfos() []*scmv1.ProviderInfo
}

// StaticProviders is a fixed list of provider infos (tests, hosts that
// embed providers without plugins).
type StaticProviders []*scmv1.ProviderInfo

// ProviderInfos returns the list.
func (s StaticProviders) ProviderInfos() []*scmv1.ProviderInfo { return s }

// RegistryProviders reads the provider infos of a launcher registry's
// running plugins, so a plugin's answer to GetProviderInfo is what the UI
// draws.
func RegistryProviders(r *launcher.Registry) Providers { return registryProviders{r} }

type registryProviders struct{ r *launcher.Registry }

func (p registryProviders) ProviderInfos() []*scmv1.ProviderInfo {
	var out []*scmv1.ProviderInfo
	for _, name := range p.r.Names() {
		if pl, ok := p.r.Get(name); ok {
			if info := pl.Info(); info != nil {
				out = append(out, info)
			}
		}
	}
	return out
}

// catalog is the providers sorted by name, with lookups.
type catalog []*scmv1.ProviderInfo

func newCatalog(p Providers) catalog {
	if p == nil {
		return nil
	}
	c := slices.Clone(p.ProviderInfos())
	c = slices.DeleteFunc(c, func(i *scmv1.ProviderInfo) bool { return i == nil || i.GetName() == "" })
	sort.Slice(c, func(i, j int) bool { return c[i].GetName() < c[j].GetName() })
	return c
}

func (c catalog) get(name string) (*scmv1.ProviderInfo, bool) {
	for _, i := range c {
		if i.GetName() == name {
			return i, true
		}
	}
	return nil, false
}

// displayName is the provider's own name for itself, or its route name.
func (c catalog) displayName(name string) string {
	if i, ok := c.get(name); ok && i.GetDisplayName() != "" {
		return i.GetDisplayName()
	}
	return name
}

// modeName is the wire name of an auth mode: the enum without its prefix,
// lower-cased ("personal_token", "oauth_app"), as Oore's API spells it.
func modeName(m scmv1.AuthMode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "AUTH_MODE_"))
}

// hasCapability says whether the provider announces c.
func hasCapability(info *scmv1.ProviderInfo, c scmv1.Capability) bool {
	return info != nil && slices.Contains(info.GetCapabilities(), c)
}

// capabilityName is the wire name of a capability ("project_webhooks").
func capabilityName(c scmv1.Capability) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CAPABILITY_"))
}

// formField is one input of a connect form, drawn from a FormField.
type formField struct {
	Name        string
	Label       string
	Help        string
	Secret      bool
	Required    bool
	Kind        string
	Placeholder string
	// Value is what the person typed (never for a secret) or the default.
	Value string
	// Error is the API's complaint about this field, if any.
	Error string
}

// InputType is the HTML input type for the field.
func (f formField) InputType() string {
	switch {
	case f.Secret || f.Kind == "password":
		return "password"
	case f.Kind == "url":
		return "url"
	}
	return "text"
}

// Autocomplete keeps browsers from saving or suggesting secrets.
func (f formField) Autocomplete() string {
	switch {
	case f.Secret || f.Kind == "password":
		return "new-password"
	case f.Kind == "url":
		return "url"
	}
	return "off"
}

// authModeView is one way to connect, ready to draw.
type authModeView struct {
	Mode   string
	Label  string
	Help   string
	Fields []formField
	// RequiredScopes reads like "read_repository, and api or read_api".
	RequiredScopes string
	// DefaultScopes are the scopes to request or grant.
	DefaultScopes []string
	// OAuth: the redirect URI to register at the provider, and the scopes.
	OAuth       bool
	RedirectURI string
}

// authModes draws a provider's auth modes. redirectURI is the host's
// OAuth callback for this provider.
func authModes(info *scmv1.ProviderInfo, redirectURI string) []authModeView {
	var out []authModeView
	for _, m := range info.GetAuthModes() {
		if m.GetMode() == scmv1.AuthMode_AUTH_MODE_UNSPECIFIED {
			continue
		}
		v := authModeView{
			Mode:           modeName(m.GetMode()),
			Label:          m.GetLabel(),
			Help:           m.GetHelp(),
			DefaultScopes:  m.GetDefaultScopes(),
			RequiredScopes: scopeText(m.GetRequiredScopes()),
			OAuth:          m.GetMode() == scmv1.AuthMode_AUTH_MODE_OAUTH_APP,
		}
		if v.Label == "" {
			v.Label = strings.ReplaceAll(v.Mode, "_", " ")
		}
		if v.OAuth {
			v.RedirectURI = redirectURI
		}
		for _, f := range m.GetFields() {
			if f.GetName() == "" {
				continue
			}
			ff := formField{
				Name: f.GetName(), Label: f.GetLabel(), Help: f.GetHelp(), Secret: f.GetSecret(),
				Required: f.GetRequired(), Kind: f.GetKind(), Placeholder: f.GetPlaceholder(),
			}
			if ff.Label == "" {
				ff.Label = f.GetName()
			}
			if !ff.Secret {
				ff.Value = f.GetDefaultValue()
			}
			v.Fields = append(v.Fields, ff)
		}
		out = append(out, v)
	}
	return out
}

// scopeText says which scopes satisfy the requirements, in words.
func scopeText(reqs []*scmv1.ScopeRequirement) string {
	var parts []string
	for _, r := range reqs {
		if len(r.GetAnyOf()) == 0 {
			continue
		}
		parts = append(parts, strings.Join(r.GetAnyOf(), " or "))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + ", and " + parts[len(parts)-1]
}
