// Package peerplugin is the benchmarks' peer: a GitLab webhook plugin built
// the way Woodpecker CI's forge addons are (server/forge/addon in
// woodpecker-ci/woodpecker): hashicorp/go-plugin over net/rpc, every call
// carrying one JSON document as []byte each way. The host JSON-encodes the
// HTTP request (method, URL, headers, body), the plugin decodes it, rebuilds
// an *http.Request, checks the secret token, decodes the payload with
// client-go's gitlab.ParseWebhook, normalises the push and answers with the
// JSON-encoded result, which the host decodes.
//
// It exists only to be measured against the scm.v1 plugin (goal 3 of the
// performance issue): it normalises pushes, and reports every other event as
// ignored. It is not part of Oore.
package peerplugin

import (
	"net/rpc"

	plugin "github.com/hashicorp/go-plugin"
)

// Handshake is the peer's go-plugin handshake.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "OORE_BENCH_PEER_PLUGIN",
	MagicCookieValue: "woodpecker-addon-style-peer",
}

// PluginName is the key of the forge in the plugin set.
const PluginName = "forge"

// rpcHook is the net/rpc method the host calls.
const rpcHook = "Plugin.Hook"

// HookRequest is one delivery as the host sends it: the HTTP request, the
// repository's secret and the repository the host looked the secret up for.
type HookRequest struct {
	Method       string              `json:"method"`
	URL          string              `json:"url"`
	Header       map[string][]string `json:"header"`
	Body         []byte              `json:"body"`
	Secret       string              `json:"secret"`
	RepositoryID string              `json:"repository_id"`
}

// Result is the normalised delivery, the peer's counterpart of scm.v1's
// VerifyWebhookResponse.
type Result struct {
	DeliveryID    string  `json:"delivery_id"`
	EventName     string  `json:"event_name"`
	IgnoredReason string  `json:"ignored_reason,omitempty"`
	Events        []Event `json:"events,omitempty"`
}

// Event is one normalised event.
type Event struct {
	Kind                 string `json:"kind"`
	RepositoryExternalID string `json:"repository_external_id"`
	RepositoryFullName   string `json:"repository_full_name"`
	CloneURL             string `json:"clone_url"`
	WebURL               string `json:"web_url"`
	Push                 *Push  `json:"push,omitempty"`
}

// Push is a normalised push to a branch.
type Push struct {
	Ref         string   `json:"ref"`
	Branch      string   `json:"branch"`
	Before      string   `json:"before"`
	After       string   `json:"after"`
	CheckoutSHA string   `json:"checkout_sha"`
	Created     bool     `json:"created"`
	Deleted     bool     `json:"deleted"`
	CommitCount int64    `json:"commit_count"`
	Commits     []Commit `json:"commits"`
	Pusher      Person   `json:"pusher"`
	SkipCI      bool     `json:"skip_ci"`
}

// Commit is one commit of a push.
type Commit struct {
	SHA       string `json:"sha"`
	Message   string `json:"message"`
	Title     string `json:"title"`
	Timestamp int64  `json:"timestamp"`
	URL       string `json:"url"`
	Author    Person `json:"author"`
}

// Person is a commit author or a pusher.
type Person struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username,omitempty"`
}

// Plugin is the go-plugin net/rpc plugin. On the plugin side Impl handles
// hooks; on the host side it is nil.
type Plugin struct {
	Impl *Forge
}

// Server is the plugin side's RPC receiver.
func (p *Plugin) Server(*plugin.MuxBroker) (interface{}, error) {
	return &rpcServer{impl: p.Impl}, nil
}

// Client is the host side's stub.
func (p *Plugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &rpcClient{client: c}, nil
}
