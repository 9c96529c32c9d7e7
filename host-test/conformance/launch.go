package conformance

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/launcher"
	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

// launchCases: the plugin starts only as itself, speaks the host's protocol,
// describes itself as its manifest does and serves exactly what it announces.
func launchCases() []testCase {
	return []testCase{
		{name: "launch/checksum-refuses-changed-binary", run: caseChecksum},
		{name: "launch/protocol-negotiated", run: caseProtocol},
		{name: "launch/info-equals-manifest", run: caseInfo},
		{name: "launch/unannounced-rpcs-unimplemented", run: caseUnannounced},
		{name: "launch/empty-requests-invalid-argument", run: caseEmptyRequests},
	}
}

// caseChecksum: the manifest's sha256 is the binary's, and a copy of the
// binary with one byte changed is refused before it runs, with or without
// the launcher's checksum cache.
func caseChecksum(c *C) {
	m := c.s.manifest
	sum, err := manifest.FileSHA256(m.ExecutablePath())
	if err != nil {
		c.Fatalf("hash the plugin binary %s: %v", m.ExecutablePath(), err)
	}
	if sum != m.SHA256 {
		c.Errorf("the manifest's sha256 %s is not the binary's %s: seal the manifest after building", m.SHA256, sum)
	}
	dir, err := os.MkdirTemp("", "oore-conformance-checksum-")
	if err != nil {
		c.Fatalf("make a folder for the changed copy: %v", err)
	}
	c.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin, err := os.ReadFile(m.ExecutablePath())
	if err != nil || len(bin) == 0 {
		c.Fatalf("read the plugin binary: %v", err)
	}
	bin[len(bin)/2] ^= 0x01
	if err := os.WriteFile(filepath.Join(dir, m.Executable), bin, 0o755); err != nil {
		c.Fatalf("write the changed copy: %v", err)
	}
	sealed, err := os.ReadFile(filepath.Join(m.Dir, manifest.FileName))
	if err != nil {
		c.Fatalf("read the sealed manifest: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), sealed, 0o644); err != nil {
		c.Fatalf("copy the sealed manifest: %v", err)
	}
	changed, err := manifest.Load(filepath.Join(dir, manifest.FileName), pluginkit.ProtocolVersion)
	if err != nil {
		c.Fatalf("load the copied manifest: %v", err)
	}
	for name, cache := range map[string]*launcher.ChecksumCache{"without a checksum cache": nil, "with a checksum cache": launcher.NewChecksumCache()} {
		p, err := launcher.Launch(c.ctx, changed, launcher.Options{Logger: c.s.logger, ChecksumCache: cache})
		switch {
		case err == nil:
			_ = p.Close()
			c.Errorf("%s, a copy of the binary with one byte changed was launched", name)
		case !errors.Is(err, manifest.ErrChecksumMismatch):
			c.Errorf("%s, the changed copy was refused, but not for its checksum: %v", name, err)
		}
	}
}

// caseProtocol starts the binary with go-plugin directly: offered versions
// 1 and 99 it negotiates 1 and serves; offered only 99 it is refused. The
// manifest and the provider info both list version 1.
func caseProtocol(c *C) {
	m := c.s.manifest
	if !slices.Contains(m.ProtocolVersions, pluginkit.ProtocolVersion) {
		c.Errorf("the manifest's protocol_versions %v lack %d", m.ProtocolVersions, pluginkit.ProtocolVersion)
	}
	if !slices.Contains(c.s.info.GetProtocolVersions(), uint32(pluginkit.ProtocolVersion)) {
		c.Errorf("the provider info's protocol_versions %v lack %d", c.s.info.GetProtocolVersions(), pluginkit.ProtocolVersion)
	}
	v, err := negotiate(c, 1, 99)
	switch {
	case err != nil:
		c.Errorf("offered protocol versions 1 and 99, the plugin failed to start: %v", err)
	case v != pluginkit.ProtocolVersion:
		c.Errorf("offered protocol versions 1 and 99, the plugin negotiated %d, want %d", v, pluginkit.ProtocolVersion)
	default:
		c.Logf("offered 1 and 99: negotiated %d", v)
	}
	if v, err := negotiate(c, 99); err == nil {
		c.Errorf("offered only protocol version 99, the plugin started with version %d", v)
	}
}

// negotiate starts the plugin offering versions and returns the version
// negotiated, after one GetProviderInfo call over it.
func negotiate(c *C, versions ...int) (int, error) {
	m := c.s.manifest
	sum, err := m.Checksum()
	if err != nil {
		return 0, err
	}
	vp := map[int]plugin.PluginSet{}
	for _, v := range versions {
		vp[v] = plugin.PluginSet{pluginkit.PluginName: &pluginkit.GRPCPlugin{}}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginkit.Handshake,
		VersionedPlugins: vp,
		Cmd:              exec.Command(m.ExecutablePath()),
		SecureConfig:     &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           c.s.logger.Named("protocol-probe"),
		GRPCDialOptions:  pluginkit.DialOptions(),
		StartTimeout:     10 * time.Second,
	})
	defer client.Kill()
	rpcClient, err := client.Client()
	if err != nil {
		return 0, err
	}
	raw, err := rpcClient.Dispense(pluginkit.PluginName)
	if err != nil {
		return 0, err
	}
	conn, ok := raw.(*pluginkit.Conn)
	if !ok {
		return 0, fmt.Errorf("dispensed %T, want *pluginkit.Conn", raw)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if _, err := scmv1.NewProviderServiceClient(conn).GetProviderInfo(ctx, &scmv1.GetProviderInfoRequest{}); err != nil {
		return 0, fmt.Errorf("provider info over the negotiated connection: %w", err)
	}
	return client.NegotiatedVersion(), nil
}

// caseInfo: GetProviderInfo equals the manifest, field by field, and lists
// each capability and event kind once.
func caseInfo(c *C) {
	resp, err := c.s.client.GetProviderInfo(c.ctx, &scmv1.GetProviderInfoRequest{})
	if !c.ok("GetProviderInfo", err) {
		return
	}
	info := resp.GetInfo()
	for _, d := range c.s.manifest.Diff(info) {
		c.Errorf("provider info differs from the manifest: %s", d)
	}
	seen := map[scmv1.Capability]bool{}
	for _, cp := range info.GetCapabilities() {
		if cp == scmv1.Capability_CAPABILITY_UNSPECIFIED {
			c.Errorf("provider info announces CAPABILITY_UNSPECIFIED")
		}
		if seen[cp] {
			c.Errorf("provider info announces %s twice", cp)
		}
		seen[cp] = true
	}
	kinds := map[scmv1.EventKind]bool{}
	for _, k := range info.GetEventKinds() {
		if kinds[k] {
			c.Errorf("provider info lists event kind %s twice", k)
		}
		kinds[k] = true
	}
	for _, am := range info.GetAuthModes() {
		if am.GetMode() == scmv1.AuthMode_AUTH_MODE_UNSPECIFIED {
			c.Errorf("provider info has an auth mode without a mode")
		}
	}
	if len(info.GetEventKinds()) > 0 && !seen[scmv1.Capability_CAPABILITY_WEBHOOKS] {
		c.Errorf("provider info lists event kinds %v but does not announce webhooks", info.GetEventKinds())
	}
	c.Logf("announced capabilities: %v", info.GetCapabilities())
}

// caseUnannounced: every RPC of a capability the provider does not announce
// answers Unimplemented, so hosts can rely on the announcement.
func caseUnannounced(c *C) {
	for _, r := range rpcs() {
		if c.s.announces(r.capability) {
			continue
		}
		err := r.empty(c.ctx, c.s.client)
		c.code(fmt.Sprintf("%s (capability %s not announced)", r.name, manifest.CapabilityName(r.capability)), err, codes.Unimplemented)
	}
}

// caseEmptyRequests: every RPC of an announced capability answers an
// empty request with InvalidArgument naming the missing fields. This also
// catches a capability that is announced but not implemented.
func caseEmptyRequests(c *C) {
	for _, r := range rpcs() {
		if !c.s.announces(r.capability) {
			continue
		}
		err := r.empty(c.ctx, c.s.client)
		c.code(r.name+" with an empty request", err, codes.InvalidArgument)
	}
}
