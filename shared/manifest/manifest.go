// Package manifest reads, validates and seals plugin manifests: how a host
// finds a plugin, checks its binary and knows what it serves before it runs.
//
// A manifest is checked twice: against the JSON Schema in manifests/schema.json
// (shape, unknown fields, enums) and with validator/v10 rules on the decoded
// struct (what the schema cannot say, such as "this host speaks protocol 1").
// Every problem is named in one error, so an author fixes them all at once.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FileName is the manifest's name inside a plugin's folder.
const FileName = "manifest.json"

// Kind is the only plugin kind this contract knows.
const Kind = "scm-provider"

// Manifest describes one plugin.
type Manifest struct {
	Schema           string     `json:"$schema,omitempty"`
	Name             string     `json:"name" validate:"required,min=2,max=32"`
	DisplayName      string     `json:"display_name" validate:"required,max=64"`
	Kind             string     `json:"kind" validate:"required,eq=scm-provider"`
	Version          string     `json:"version" validate:"required,semver"`
	Description      string     `json:"description,omitempty"`
	ProtocolVersions []int      `json:"protocol_versions" validate:"required,min=1,dive,gte=1"`
	Executable       string     `json:"executable" validate:"required,excludesall=/\\"`
	SHA256           string     `json:"sha256,omitempty" validate:"omitempty,len=64,hexadecimal"`
	DefaultHostURL   string     `json:"default_host_url,omitempty" validate:"omitempty,url"`
	AuthModes        []AuthMode `json:"auth_modes" validate:"required,min=1,dive"`
	EventKinds       []string   `json:"event_kinds" validate:"dive,oneof=push tag_push merge_request"`
	Capabilities     []string   `json:"capabilities" validate:"dive,oneof=validate_connection check_credentials oauth list_repositories webhooks webhook_session clone_credentials project_webhooks commit_status"`
	Routes           Routes     `json:"routes" validate:"required"`

	// Dir is the folder the manifest was loaded from (not serialized).
	Dir string `json:"-"`
}

// AuthMode is one way to connect and the scopes it needs.
type AuthMode struct {
	Mode           string     `json:"mode" validate:"required,oneof=personal_token oauth_app local_path"`
	RequiredScopes [][]string `json:"required_scopes,omitempty" validate:"dive,min=1,dive,required"`
	DefaultScopes  []string   `json:"default_scopes,omitempty" validate:"dive,required"`
}

// Routes are the host paths routed to the plugin.
type Routes struct {
	Integrations string `json:"integrations" validate:"required,startswith=/v1/integrations/"`
	Webhooks     string `json:"webhooks" validate:"required,startswith=/v1/webhooks/"`
}

// ValidationError lists every problem found in a manifest.
type ValidationError struct {
	Source   string
	Problems []string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("manifest %s is invalid (%d problems): %s", e.Source, len(e.Problems), strings.Join(e.Problems, "; "))
}

// Sentinel errors. Each says how to fix its cause.
var (
	// ErrNoChecksum: the manifest has no sha256. Build the plugin with
	// `make build` (or seal it with `oore-manifest seal`) so its checksum is recorded.
	ErrNoChecksum = errors.New("manifest has no sha256 for its executable; seal it with `make build` or `oore-manifest seal`")
	// ErrChecksumMismatch: the binary is not the one the manifest was sealed
	// for. Rebuild and reseal, or restore the right binary.
	ErrChecksumMismatch = errors.New("plugin binary does not match the manifest's sha256; rebuild and reseal it, or restore the original binary")
)

// Load reads and validates the manifest at path. hostProtocols lists the
// protocol versions the host speaks; the manifest must share one with it.
func Load(path string, hostProtocols ...int) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin manifest: %w", err)
	}
	m, err := Parse(data, path, hostProtocols...)
	if err != nil {
		return nil, err
	}
	m.Dir = filepath.Dir(path)
	return m, nil
}

// Parse validates manifest bytes; source names them in errors.
func Parse(data []byte, source string, hostProtocols ...int) (*Manifest, error) {
	var problems []string
	problems = append(problems, schemaProblems(data)...)
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		problems = append(problems, "not valid JSON for a manifest: "+err.Error())
		return nil, &ValidationError{Source: source, Problems: dedupe(problems)}
	}
	problems = append(problems, structProblems(&m)...)
	if len(hostProtocols) > 0 && !sharesProtocol(m.ProtocolVersions, hostProtocols) {
		problems = append(problems, fmt.Sprintf("protocol_versions %v has no version this host speaks (%v)", m.ProtocolVersions, hostProtocols))
	}
	if m.Routes.Integrations != "" && m.Name != "" && m.Routes.Integrations != "/v1/integrations/"+m.Name {
		problems = append(problems, fmt.Sprintf("routes.integrations must be /v1/integrations/%s", m.Name))
	}
	if m.Routes.Webhooks != "" && m.Name != "" && m.Routes.Webhooks != "/v1/webhooks/"+m.Name {
		problems = append(problems, fmt.Sprintf("routes.webhooks must be /v1/webhooks/%s", m.Name))
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Source: source, Problems: dedupe(problems)}
	}
	return &m, nil
}

func sharesProtocol(plugin, host []int) bool {
	for _, p := range plugin {
		for _, h := range host {
			if p == h {
				return true
			}
		}
	}
	return false
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// ExecutablePath is the plugin binary's path.
func (m *Manifest) ExecutablePath() string { return filepath.Join(m.Dir, m.Executable) }

// Checksum is the decoded sha256, or ErrNoChecksum.
func (m *Manifest) Checksum() ([]byte, error) {
	if m.SHA256 == "" {
		return nil, ErrNoChecksum
	}
	return hex.DecodeString(m.SHA256)
}

// Discover loads every <dir>/*/manifest.json. Manifests that fail come back
// as errors beside the good ones, so one broken plugin does not hide the rest.
func Discover(dir string, hostProtocols ...int) ([]*Manifest, []error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", FileName))
	if err != nil {
		return nil, []error{err}
	}
	sort.Strings(paths)
	var out []*Manifest
	var errs []error
	for _, p := range paths {
		m, err := Load(p, hostProtocols...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errs
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Seal validates the manifest at src, records the SHA-256 of binary in it
// and writes it to dst (0644), ready to sit beside the binary.
func Seal(src, binary, dst string) (*Manifest, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := Parse(data, src)
	if err != nil {
		return nil, err
	}
	if filepath.Base(binary) != m.Executable {
		return nil, fmt.Errorf("binary %s is not the manifest's executable %q", binary, m.Executable)
	}
	sum, err := FileSHA256(binary)
	if err != nil {
		return nil, fmt.Errorf("hash plugin binary: %w", err)
	}
	m.SHA256 = sum
	m.Schema = ""
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(dst, append(out, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write sealed manifest: %w", err)
	}
	m.Dir = filepath.Dir(dst)
	return m, nil
}
