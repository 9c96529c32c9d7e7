// Package pluginkit is the go-plugin glue of the scm.v1 contract, used by both
// sides: the handshake and plugin set they agree on, Serve for plugin authors,
// and the gRPC settings (message limits) both ends share.
//
// A provider's main is one call:
//
//	func main() { pluginkit.Serve(gitlab.New()) }
//
// Hosts do not use this package directly; they use shared/launcher, which
// starts, verifies and supervises plugin processes.
package pluginkit

import (
	plugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the go-plugin protocol version this contract serves:
// the major version of scm.v1 (see shared/proto/oore/scm/v1/provider.proto).
const ProtocolVersion = 1

// PluginName is the key of the provider in the plugin set.
const PluginName = "scm_provider"

// MaxMessageSize is the largest gRPC message either side accepts or sends
// (64 MiB; webhooks up to GitLab's 25 MB payload cross comfortably).
const MaxMessageSize = 64 << 20

// Handshake is the go-plugin handshake. The magic cookie is not security: it
// only stops a plugin binary run by hand from waiting for a host forever.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "OORE_SCM_PLUGIN",
	MagicCookieValue: "scm.v1-2f7c1d0e-6b1a-4c8e-9a51-oore-provider",
}

// VersionedPlugins is the plugin set by protocol version. A host passes it
// to go-plugin so that protocol negotiation picks the newest version both
// sides speak.
func VersionedPlugins(impl *GRPCPlugin) map[int]plugin.PluginSet {
	if impl == nil {
		impl = &GRPCPlugin{}
	}
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: impl}}
}
