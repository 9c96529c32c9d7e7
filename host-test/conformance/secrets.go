package conformance

import (
	"fmt"
	"strings"
	"sync"

	scmv1 "github.com/oore-ci/oore-scm-gitlab/shared/gen/oore/scm/v1"
)

// minSecretLen: shorter strings are too likely to appear by chance.
const minSecretLen = 6

// secrets are the secret values the suite handed the plugin (tokens, client
// secrets, webhook secrets), which must never come back in an error, a
// response meant for display or a log line.
type secrets struct {
	mu     sync.Mutex
	labels map[string]string // value -> what it is
}

func (s *secrets) add(label, value string) {
	if len(value) < minSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.labels == nil {
		s.labels = map[string]string{}
	}
	if _, ok := s.labels[value]; !ok {
		s.labels[value] = label
	}
}

func (s *secrets) addConnection(label string, c *scmv1.Connection) {
	cr := c.GetCredentials()
	s.add(label+"'s access token", cr.GetAccessToken())
	s.add(label+"'s refresh token", cr.GetRefreshToken())
	s.add(label+"'s OAuth client secret", cr.GetOauthClient().GetClientSecret())
}

// find names the first secret text contains, without revealing it: what it
// is, its length and its first characters.
func (s *secrets) find(text string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v, label := range s.labels {
		if strings.Contains(text, v) {
			return fmt.Sprintf("%s (%d characters, starting %q)", label, len(v), v[:3]), true
		}
	}
	return "", false
}

// redact replaces every secret in text with "[secret]".
func (s *secrets) redact(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v := range s.labels {
		text = strings.ReplaceAll(text, v, "[secret]")
	}
	return text
}
