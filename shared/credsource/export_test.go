package credsource

// Joiners is how many calls joined the refresh of the integration running in
// s (0 when none runs), so tests can wait for a caller to be waiting.
func Joiners(s *Source, integrationID string) int { return s.flights.joiners(integrationID) }
