package host

import (
	"slices"
	"sync/atomic"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
	"github.com/oore-ci/oore-scm-gitlab/shared/webhooksession"
)

// webhookSession is the host's WebhookSession with one provider plugin
// (capability WEBHOOK_SESSION): intake's receive and verify calls go over
// it. The client reopens the stream after the plugin restarts; a new
// session holds no secrets until verify calls teach it again.
type webhookSession struct {
	client *webhooksession.Client
	// noReceive is 1 + the plugin's restart count when its session refused
	// receive (a plugin built before receive existed), 0 while none did.
	// Such a plugin gets the unary calls until it restarts: trying receive
	// on every delivery would cost each one a third call, and a restart is
	// when a newer binary can appear.
	noReceive atomic.Int64
}

// newWebhookSessions opens (lazily: nothing is sent before the first
// delivery) a session with each plugin that announces WEBHOOK_SESSION.
func newWebhookSessions(plugins Plugins) map[string]*webhookSession {
	out := map[string]*webhookSession{}
	for _, name := range plugins.Names() {
		p, ok := plugins.Get(name)
		if !ok || p.Manifest() == nil || !p.Manifest().HasCapability(scmv1.Capability_CAPABILITY_WEBHOOK_SESSION) {
			continue
		}
		out[name] = &webhookSession{client: webhooksession.NewClient(p.Provider())}
	}
	return out
}

// receives reports whether intake should try receive with p's session.
func (s *webhookSession) receives(p Plugin) bool {
	return s != nil && s.noReceive.Load() != p.Restarts()+1
}

// refuseReceive remembers that the plugin, at restart count restarts, does
// not answer receive; it reports whether this is news (to log once).
func (s *webhookSession) refuseReceive(restarts int64) bool {
	return s.noReceive.Swap(restarts+1) != restarts+1
}

// receiveRefused: the plugin's answer to receive says it does not know the
// call, not that the delivery is bad. Sessions built before receive existed
// answer a call they cannot read InvalidArgument on the field "call";
// newer ones answer an unknown call Unimplemented (as does a plugin that
// serves no session at all).
func receiveRefused(err error) bool {
	d := scmerr.Parse(err)
	return d.Code == codes.Unimplemented ||
		(d.Code == codes.InvalidArgument && slices.Contains(d.FieldNames(), "call"))
}
