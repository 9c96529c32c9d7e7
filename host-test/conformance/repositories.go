package conformance

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// repositoryCases: ListRepositories, a server stream.
func repositoryCases() []testCase {
	list := []scmv1.Capability{scmv1.Capability_CAPABILITY_LIST_REPOSITORIES}
	return []testCase{
		{name: "list_repositories/complete", needs: list, run: caseListComplete},
		{name: "list_repositories/duplicate-free", needs: list, run: caseListDuplicateFree},
		{name: "list_repositories/stable-order", needs: list, run: caseListStableOrder},
		{name: "list_repositories/cancel-mid-stream", needs: list, run: caseListCancel},
		{name: "list_repositories/bounded-memory", needs: list, run: caseListMemory},
		{name: "list_repositories/bad-input", needs: list, run: caseListBadInput},
		{name: "list_repositories/rejected-credentials", needs: list, run: caseListRejected},
	}
}

// list drains a listing of conn, recording a failure as a problem.
func (c *C) list(what string, req *scmv1.ListRepositoriesRequest) (listing, bool) {
	l, err := listAll(c.ctx, c.s.client, req)
	if !c.ok(what, err) {
		return l, false
	}
	for i, m := range l.repos {
		c.cleanMsg(fmt.Sprintf("%s: repository %d", what, i), m)
	}
	return l, true
}

// ids are the external ids of repos, in order.
func ids(repos []*scmv1.Repository) []string {
	out := make([]string, len(repos))
	for i, r := range repos {
		out[i] = r.GetExternalId()
	}
	return out
}

// firstSeen are the external ids of repos in order, each at its first
// appearance.
func firstSeen(repos []*scmv1.Repository) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids(repos) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// compareSets records every repository missing from got or not expected in it.
func (c *C) compareSets(what string, got, want []*scmv1.Repository) {
	byID := map[string]*scmv1.Repository{}
	for _, r := range got {
		byID[r.GetExternalId()] = r
	}
	wantIDs := map[string]bool{}
	var missing, extra []string
	for _, w := range want {
		wantIDs[w.GetExternalId()] = true
		g, ok := byID[w.GetExternalId()]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s (%s)", w.GetExternalId(), w.GetFullName()))
		case w.GetFullName() != "" && g.GetFullName() != w.GetFullName():
			c.Errorf("%s: repository %s is named %q, the backend says %q", what, w.GetExternalId(), g.GetFullName(), w.GetFullName())
		}
	}
	for id, g := range byID {
		if !wantIDs[id] {
			extra = append(extra, fmt.Sprintf("%s (%s)", id, g.GetFullName()))
		}
	}
	slices.Sort(extra)
	if len(missing) > 0 {
		c.Errorf("%s lacks %d of the backend's %d repositories: %s", what, len(missing), len(want), abbreviate(missing))
	}
	if len(extra) > 0 {
		c.Errorf("%s has %d repositories the backend does not list for this connection: %s", what, len(extra), abbreviate(extra))
	}
}

func abbreviate(list []string) string {
	if len(list) > 10 {
		return strings.Join(list[:10], ", ") + fmt.Sprintf(", … (%d more)", len(list)-10)
	}
	return strings.Join(list, ", ")
}

// caseListComplete: the listing holds exactly the backend's repositories,
// each with an id, a full name and a clone URL.
func caseListComplete(c *C) {
	tc := c.conn()
	l, ok := c.list("ListRepositories", &scmv1.ListRepositoriesRequest{Connection: tc.Connection})
	if !ok {
		return
	}
	c.compareSets("the listing", l.repos, tc.Repositories)
	for _, r := range l.repos {
		if r.GetExternalId() == "" || r.GetFullName() == "" || r.GetCloneUrl() == "" {
			c.Errorf("repository %q (%q) lacks an external id, a full name or a clone URL", r.GetExternalId(), r.GetFullName())
		}
	}
	c.Logf("%d repositories in %d messages", len(l.repos), l.messages)
}

// caseListDuplicateFree: no repository is listed twice, whatever the page size.
func caseListDuplicateFree(c *C) {
	tc := c.conn()
	for _, size := range []uint32{0, 1, 2} {
		l, ok := c.list(fmt.Sprintf("ListRepositories with page_size %d", size), &scmv1.ListRepositoriesRequest{Connection: tc.Connection, PageSize: size})
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, id := range ids(l.repos) {
			if seen[id] {
				c.Errorf("with page_size %d, repository %s is listed twice", size, id)
			}
			seen[id] = true
		}
	}
}

// caseListStableOrder: two listings come in the same order, and the order
// does not depend on the page size (repeats are ignored here: they are
// duplicate-free's business).
func caseListStableOrder(c *C) {
	tc := c.conn()
	first, ok1 := c.list("the first listing", &scmv1.ListRepositoriesRequest{Connection: tc.Connection})
	second, ok2 := c.list("the second listing", &scmv1.ListRepositoriesRequest{Connection: tc.Connection})
	small, ok3 := c.list("a listing with page_size 2", &scmv1.ListRepositoriesRequest{Connection: tc.Connection, PageSize: 2})
	if !ok1 || !ok2 || !ok3 {
		return
	}
	a, b, s := firstSeen(first.repos), firstSeen(second.repos), firstSeen(small.repos)
	if !slices.Equal(a, b) {
		c.Errorf("two listings came in different orders: %s then %s", abbreviate(a), abbreviate(b))
	}
	if !slices.Equal(a, s) {
		c.Errorf("the order depends on the page size: %s with the default, %s with page_size 2", abbreviate(a), abbreviate(s))
	}
}

// caseListCancel cancels a listing after its first message: the stream
// ends with Canceled, the provider stops asking the SCM at once (when the
// backend is a SlowBackend: each answer then takes 2s, so a provider that
// keeps paging is caught waiting), and the next listing is complete.
func caseListCancel(c *C) {
	tc := c.conn()
	if len(tc.Repositories) < 2 {
		c.Skipf("the backend's connection has %d repositories; cancelling mid-stream needs at least 2", len(tc.Repositories))
	}
	slow, _ := c.s.cfg.Backend.(SlowBackend)
	if slow != nil {
		slow.SetLatency(2 * quiesceGrace)
		c.Cleanup(func() { slow.SetLatency(0) })
	}
	ctx, cancel := contextWithCancel(c)
	stream, err := c.s.client.ListRepositories(ctx, &scmv1.ListRepositoriesRequest{Connection: tc.Connection, PageSize: 1})
	if !c.ok("ListRepositories with page_size 1", err) {
		cancel()
		return
	}
	first, err := stream.Recv()
	if !c.ok("the first message of the listing", err) {
		cancel()
		return
	}
	if len(first.GetRepositories()) >= len(tc.Repositories) {
		c.Logf("the first message already held all %d repositories (page_size 1 was not honoured); cancelling anyway", len(first.GetRepositories()))
	}
	cancel()
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			c.code("the cancelled listing", err, codes.Canceled)
		}
		break
	}
	if slow != nil {
		c.quiesce("after the listing was cancelled", slow)
		slow.SetLatency(0)
	}
	l, ok := c.list("the listing after a cancelled one", &scmv1.ListRepositoriesRequest{Connection: tc.Connection})
	if ok {
		c.compareSets("the listing after a cancelled one", l.repos, tc.Repositories)
	}
}

// caseListBadInput: malformed connections and an oversized search are
// InvalidArgument.
func caseListBadInput(c *C) {
	tc := c.conn()
	call := func(req *scmv1.ListRepositoriesRequest) error {
		_, err := listAll(c.ctx, c.s.client, req)
		return err
	}
	c.code("ListRepositories without a connection", call(&scmv1.ListRepositoriesRequest{}), codes.InvalidArgument)
	for name, host := range sortedMap(c.badHostURLs()) {
		c.code("ListRepositories with "+name, call(&scmv1.ListRepositoriesRequest{Connection: withHost(tc.Connection, host)}), codes.InvalidArgument)
	}
	for name, conn := range sortedMap(credentialVariants(tc.Connection)) {
		c.code("ListRepositories with "+name, call(&scmv1.ListRepositoriesRequest{Connection: conn}), codes.InvalidArgument)
	}
	c.code("ListRepositories with a 1 MiB search", call(&scmv1.ListRepositoriesRequest{Connection: tc.Connection, Search: strings.Repeat("s", oversized)}), codes.InvalidArgument)
}

// caseListRejected: refused credentials are Unauthenticated.
func caseListRejected(c *C) {
	conn := c.rejectedConn()
	_, err := listAll(c.ctx, c.s.client, &scmv1.ListRepositoriesRequest{Connection: conn})
	c.code("ListRepositories with rejected credentials", err, codes.Unauthenticated)
}
