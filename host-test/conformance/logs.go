package conformance

// logCases: what the launcher and the plugin logged during the run.
func logCases() []testCase {
	return []testCase{{name: "logs/no-secrets", run: caseLogs}}
}

// caseLogs searches everything logged during the run (the launcher's lines
// and the plugin's stderr, at the level the plugin logs by default) for
// every secret the suite handed the plugin.
func caseLogs(c *C) {
	text, truncated := c.s.logs.String()
	if s, found := c.s.secrets.find(text); found {
		c.Errorf("the plugin's log contains a secret: %s", s)
	}
	if truncated {
		c.Logf("the log passed %d MiB; only its beginning was searched", maxLog>>20)
	}
	c.Logf("searched %d bytes of log", len(text))
}
