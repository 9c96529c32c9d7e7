package webhooksession

import (
	"container/list"
	"sync"
)

// secretEntry is the secret a session holds for one repository, and the
// host's name for it.
type secretEntry struct {
	repo   string
	secret string
	ref    string
}

// secretTable maps repository_external_id to the secret a verify call
// succeeded with. It holds at most max repositories and, when full, forgets
// the least recently used one (set by a verify or looked up by a receive):
// a busy repository stays, one that went quiet goes first. Safe for
// concurrent use.
type secretTable struct {
	mu    sync.Mutex
	max   int
	byID  map[string]*list.Element // of *secretEntry
	order *list.List               // front: most recently used
}

func newSecretTable(max int) *secretTable {
	return &secretTable{max: max, byID: map[string]*list.Element{}, order: list.New()}
}

// put sets repo's secret and ref, replacing what the table held for it.
func (t *secretTable) put(repo, secret, ref string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byID[repo]; ok {
		e := el.Value.(*secretEntry)
		e.secret, e.ref = secret, ref
		t.order.MoveToFront(el)
		return
	}
	if t.order.Len() >= t.max {
		oldest := t.order.Back()
		t.order.Remove(oldest)
		delete(t.byID, oldest.Value.(*secretEntry).repo)
	}
	t.byID[repo] = t.order.PushFront(&secretEntry{repo: repo, secret: secret, ref: ref})
}

// get returns a copy of repo's entry and marks it used.
func (t *secretTable) get(repo string) (secretEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.byID[repo]
	if !ok {
		return secretEntry{}, false
	}
	t.order.MoveToFront(el)
	return *el.Value.(*secretEntry), true
}

func (t *secretTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}
