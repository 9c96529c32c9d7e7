//go:build !unix

package conformance

// caseHostDeath needs unix signals.
func caseHostDeath(c *C) {
	c.Skipf("killing a host and watching its plugin needs unix signals")
}
