package conformance

import (
	"bytes"
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// malformedCall is one garbage request, named for reports.
type malformedCall struct {
	what string
	call func(ctx context.Context) error
}

// junk makes malformed inputs from a fixed seed, so a failing burst
// replays the same way.
type junk struct {
	rng   *rand.Rand
	hosts []string
	conn  *scmv1.Connection // the working connection, to mutate; may be nil
	hook  *Webhook          // the genuine delivery, to mutate; may be nil
}

// jsonEdges are bodies that trip naive JSON handling.
var jsonEdges = []string{
	"", "null", "[]", "{}", `""`, "0", "-1", "true", `{"a":`, "\xef\xbb\xbf{}", "\xff\xfe\xfd",
	`{"object_kind":null,"project":null}`, `{"project":{"id":"1"}}`, `{"project":{"id":1e400}}`,
	`{"project":[]}`, `{"project":{"id":-1},"repository":{}}`, `{"commits":[null,null]}`,
	`{"object_kind":"push","project":{"id":1},"commits":"x"}`,
}

func (j *junk) pick(list []string) string { return list[j.rng.IntN(len(list))] }

// text is a random valid UTF-8 string of up to n bytes.
func (j *junk) text(n int) string {
	b := make([]byte, j.rng.IntN(n+1))
	for i := range b {
		b[i] = byte(j.rng.UintN(256))
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (j *junk) host() string {
	switch j.rng.IntN(4) {
	case 0:
		return j.text(64)
	case 1:
		if j.conn != nil {
			return j.conn.GetHostUrl() + "/" + j.text(16)
		}
	}
	return j.pick(j.hosts)
}

// connection is a malformed connection: garbage host URL, auth mode or token.
func (j *junk) connection() *scmv1.Connection {
	if j.rng.IntN(8) == 0 {
		return nil
	}
	c := &scmv1.Connection{HostUrl: j.host(), Credentials: &scmv1.Credentials{
		AuthMode:    scmv1.AuthMode(j.rng.IntN(6)),
		AccessToken: j.text(48),
	}}
	if j.conn != nil && j.rng.IntN(2) == 0 {
		c = proto.Clone(j.conn).(*scmv1.Connection)
		c.Credentials = &scmv1.Credentials{AuthMode: scmv1.AuthMode(j.rng.IntN(6)), AccessToken: j.text(48), RefreshToken: j.text(8)}
	}
	if j.rng.IntN(6) == 0 {
		c.Tls = &scmv1.TLSSettings{CaBundlePem: []byte(j.text(128))}
	}
	return c
}

// body is a malformed webhook body: edge-case JSON, deep nesting, random
// bytes, or the genuine body with bytes flipped.
func (j *junk) body() []byte {
	switch j.rng.IntN(5) {
	case 0:
		return []byte(j.pick(jsonEdges))
	case 1:
		depth := 1 + j.rng.IntN(100000)
		return []byte(strings.Repeat("[", depth) + strings.Repeat("]", j.rng.IntN(depth+1)))
	case 2:
		b := make([]byte, j.rng.IntN(4096))
		for i := range b {
			b[i] = byte(j.rng.UintN(256))
		}
		return b
	case 3:
		if j.hook != nil {
			b := bytes.Clone(j.hook.Delivery.GetBody())
			for range 1 + j.rng.IntN(8) {
				if len(b) > 0 {
					b[j.rng.IntN(len(b))] ^= byte(1 + j.rng.UintN(255))
				}
			}
			return b
		}
	}
	return bytes.Repeat([]byte{' '}, j.rng.IntN(1<<20))
}

// delivery is a malformed delivery: the genuine headers with values
// replaced or removed, or random headers, with a malformed body.
func (j *junk) delivery() *scmv1.WebhookDelivery {
	if j.rng.IntN(10) == 0 {
		return nil
	}
	h := map[string]string{}
	if j.hook != nil && j.rng.IntN(3) > 0 {
		h = maps.Clone(j.hook.Delivery.GetHeaders())
		for _, k := range slices.Sorted(maps.Keys(h)) {
			switch j.rng.IntN(3) {
			case 0:
				h[k] = j.text(32)
			case 1:
				delete(h, k)
			}
		}
	}
	for range j.rng.IntN(4) {
		h[strings.ToLower(j.text(12))] = j.text(64)
	}
	body := j.body()
	if j.hook != nil && j.rng.IntN(4) == 0 {
		body = j.hook.Delivery.GetBody() // genuine body, mangled headers
	}
	return &scmv1.WebhookDelivery{Headers: h, Body: body}
}

func (j *junk) id() string {
	return j.pick([]string{"", "0", "-1", "../../..", "%00", "1e9999", "99999999999999999999999", "a/b/../../..", j.text(32)})
}

// malformedCalls builds n garbage calls over the RPCs the provider announces.
func malformedCalls(c *C, n int, tc *TokenConnection, w *Webhook) []malformedCall {
	j := &junk{rng: rand.New(rand.NewPCG(6, 2026)), hook: w}
	for _, h := range c.badHostURLs() {
		if len(h) < 4096 {
			j.hosts = append(j.hosts, h)
		}
	}
	slices.Sort(j.hosts)
	if tc != nil {
		j.conn = tc.Connection
	}
	cl := c.s.client
	type gen struct {
		capability scmv1.Capability
		make       func() malformedCall
	}
	gens := []gen{
		{scmv1.Capability_CAPABILITY_VALIDATE_CONNECTION, func() malformedCall {
			req := &scmv1.ValidateConnectionRequest{Connection: j.connection()}
			return malformedCall{"ValidateConnection", func(ctx context.Context) error { _, err := cl.ValidateConnection(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_CHECK_CREDENTIALS, func() malformedCall {
			req := &scmv1.CheckCredentialsRequest{Connection: j.connection()}
			return malformedCall{"CheckCredentials", func(ctx context.Context) error { _, err := cl.CheckCredentials(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_LIST_REPOSITORIES, func() malformedCall {
			req := &scmv1.ListRepositoriesRequest{Connection: j.connection(), Search: j.text(64), PageSize: j.rng.Uint32(), MinAccessLevel: scmv1.AccessLevel(j.rng.IntN(7))}
			return malformedCall{"ListRepositories", func(ctx context.Context) error { _, err := listAll(ctx, cl, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_WEBHOOKS, func() malformedCall {
			req := &scmv1.IdentifyWebhookRequest{Delivery: j.delivery()}
			return malformedCall{"IdentifyWebhook", func(ctx context.Context) error { _, err := cl.IdentifyWebhook(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_WEBHOOKS, func() malformedCall {
			secret := j.text(40)
			if j.hook != nil && j.rng.IntN(2) == 0 {
				secret = j.hook.Secret
			}
			req := &scmv1.VerifyWebhookRequest{Delivery: j.delivery(), Secret: secret, RepositoryExternalId: j.id()}
			return malformedCall{"VerifyWebhook", func(ctx context.Context) error { _, err := cl.VerifyWebhook(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_WEBHOOK_SESSION, func() malformedCall {
			req := &scmv1.WebhookSessionRequest{Id: j.rng.Uint64(), Call: &scmv1.WebhookSessionRequest_Identify{Identify: &scmv1.IdentifyWebhookRequest{Delivery: j.delivery()}}}
			return malformedCall{"WebhookSession", func(ctx context.Context) error {
				resps, err := session(ctx, cl, req)
				if err != nil {
					return err
				}
				return sessionError(resps[req.GetId()])
			}}
		}},
		{scmv1.Capability_CAPABILITY_CLONE_CREDENTIALS, func() malformedCall {
			conn := j.connection()
			if j.conn != nil && j.rng.IntN(2) == 0 {
				conn = j.conn
			}
			req := &scmv1.GetCloneCredentialsRequest{Connection: conn, RepositoryExternalId: j.id(), FullName: j.text(32)}
			return malformedCall{"GetCloneCredentials", func(ctx context.Context) error { _, err := cl.GetCloneCredentials(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_OAUTH, func() malformedCall {
			req := &scmv1.BeginOAuthRequest{HostUrl: j.host(), ClientId: j.text(16), RedirectUri: j.host(), State: j.text(16), CodeChallenge: j.text(43), CodeChallengeMethod: j.pick([]string{"", "S256", "plain", "x"})}
			return malformedCall{"BeginOAuth", func(ctx context.Context) error { _, err := cl.BeginOAuth(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_OAUTH, func() malformedCall {
			req := &scmv1.RefreshCredentialsRequest{Connection: j.connection()}
			return malformedCall{"RefreshCredentials", func(ctx context.Context) error { _, err := cl.RefreshCredentials(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_PROJECT_WEBHOOKS, func() malformedCall {
			req := &scmv1.EnsureProjectWebhookRequest{Connection: j.connection(), RepositoryExternalId: j.id(), Url: j.host(), Secret: j.text(16)}
			return malformedCall{"EnsureProjectWebhook", func(ctx context.Context) error { _, err := cl.EnsureProjectWebhook(ctx, req); return err }}
		}},
		{scmv1.Capability_CAPABILITY_COMMIT_STATUS, func() malformedCall {
			req := &scmv1.SetCommitStatusRequest{Connection: j.connection(), RepositoryExternalId: j.id(), Sha: j.text(40), State: scmv1.CommitState(j.rng.IntN(8))}
			return malformedCall{"SetCommitStatus", func(ctx context.Context) error { _, err := cl.SetCommitStatus(ctx, req); return err }}
		}},
	}
	var usable []gen
	for _, g := range gens {
		if c.s.announces(g.capability) {
			usable = append(usable, g)
		}
	}
	if len(usable) == 0 {
		return nil
	}
	calls := make([]malformedCall, n)
	for i := range calls {
		calls[i] = usable[j.rng.IntN(len(usable))].make()
	}
	return calls
}
