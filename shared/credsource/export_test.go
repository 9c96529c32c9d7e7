package credsource

import "time"

// Joiners is how many calls joined the refresh of the integration running in
// s (0 when none runs), so tests can wait for a caller to be waiting.
func Joiners(s *Source, integrationID string) int { return s.flights.joiners(integrationID) }

// WithSaveRetry sets the bounds of the wait between save attempts (default
// 100 ms doubling to 5 s), so tests retry quickly.
func WithSaveRetry(minWait, maxWait time.Duration) Option {
	return func(s *Source) { s.retryMin, s.retryMax = minWait, maxWait }
}

// Unsaved reports whether s holds refreshed credentials of the integration
// that the store has not taken yet.
func Unsaved(s *Source, integrationID string) bool { return s.held.get(integrationID) != nil }
