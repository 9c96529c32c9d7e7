package manifest

import (
	"fmt"
	"slices"
	"strings"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// CapabilityName is the manifest's word for a capability ("project_webhooks").
func CapabilityName(c scmv1.Capability) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CAPABILITY_"))
}

// EventKindName is the manifest's word for an event kind ("tag_push").
func EventKindName(k scmv1.EventKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "EVENT_KIND_"))
}

// AuthModeName is the manifest's (and Oore's) word for an auth mode ("oauth_app").
func AuthModeName(m scmv1.AuthMode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "AUTH_MODE_"))
}

// ParseAuthMode reads an auth mode word; ok is false for an unknown one.
func ParseAuthMode(s string) (scmv1.AuthMode, bool) {
	v, ok := scmv1.AuthMode_value["AUTH_MODE_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return scmv1.AuthMode_AUTH_MODE_UNSPECIFIED, false
	}
	return scmv1.AuthMode(v), true
}

// HasCapability reports whether the manifest announces c.
func (m *Manifest) HasCapability(c scmv1.Capability) bool {
	return slices.Contains(m.Capabilities, CapabilityName(c))
}

// Diff compares what a running plugin says about itself with its manifest and
// lists every difference. A host refuses a plugin whose list is not empty: the
// manifest is what operators and UIs trust before the plugin runs.
func (m *Manifest) Diff(info *scmv1.ProviderInfo) []string {
	var d []string
	if info == nil {
		return []string{"plugin returned no provider info"}
	}
	eq := func(field, manifest, plugin string) {
		if manifest != plugin {
			d = append(d, fmt.Sprintf("%s: manifest says %q, plugin says %q", field, manifest, plugin))
		}
	}
	eq("name", m.Name, info.GetName())
	eq("display_name", m.DisplayName, info.GetDisplayName())
	eq("version", m.Version, info.GetVersion())
	eq("default_host_url", m.DefaultHostURL, info.GetDefaultHostUrl())

	var protos []string
	for _, p := range info.GetProtocolVersions() {
		protos = append(protos, fmt.Sprint(p))
	}
	var mprotos []string
	for _, p := range m.ProtocolVersions {
		mprotos = append(mprotos, fmt.Sprint(p))
	}
	setEq := func(field string, manifest, plugin []string) {
		a, b := slices.Clone(manifest), slices.Clone(plugin)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			d = append(d, fmt.Sprintf("%s: manifest says %v, plugin says %v", field, a, b))
		}
	}
	setEq("protocol_versions", mprotos, protos)

	var kinds []string
	for _, k := range info.GetEventKinds() {
		kinds = append(kinds, EventKindName(k))
	}
	setEq("event_kinds", m.EventKinds, kinds)

	var caps []string
	for _, c := range info.GetCapabilities() {
		caps = append(caps, CapabilityName(c))
	}
	setEq("capabilities", m.Capabilities, caps)

	var modes []string
	byMode := map[string]*scmv1.AuthModeInfo{}
	for _, am := range info.GetAuthModes() {
		name := AuthModeName(am.GetMode())
		modes = append(modes, name)
		byMode[name] = am
	}
	var mmodes []string
	for _, am := range m.AuthModes {
		mmodes = append(mmodes, am.Mode)
	}
	setEq("auth_modes", mmodes, modes)
	for _, am := range m.AuthModes {
		pi, ok := byMode[am.Mode]
		if !ok {
			continue
		}
		var preq []string
		for _, r := range pi.GetRequiredScopes() {
			preq = append(preq, strings.Join(sorted(r.GetAnyOf()), "|"))
		}
		var mreq []string
		for _, r := range am.RequiredScopes {
			mreq = append(mreq, strings.Join(sorted(r), "|"))
		}
		setEq("auth_modes["+am.Mode+"].required_scopes", mreq, preq)
		setEq("auth_modes["+am.Mode+"].default_scopes", am.DefaultScopes, pi.GetDefaultScopes())
	}
	return d
}

func sorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}
