// Package bench measures the plugin boundary the way the performance issue
// (issue 7) asks: every figure next to a baseline measured in the same run,
// medians of repeated rounds after a warm-up, and one machine-readable line
// per figure (`BENCH <name> <value> <unit>`) after a readable table.
//
// What it measures, each in its own file: the raw Unix-socket round trip to
// another process (the floor), the webhook through the real plugin process
// (unary VerifyWebhook and the WebhookSession stream) against the same
// provider code called in-process, in-process decoding against client-go's
// ParseWebhook, the whole plugin path against a Woodpecker-addon-style peer
// plugin, cold start, listing 10,000 projects from the GitLab simulator,
// end-to-end intake on the reference host, and the plugin's memory and size.
//
// Run is the library entry point; cmd/oore-bench is the command `make bench`
// runs. Nothing here asserts a timing: the smoke test only checks that every
// figure is produced.
package bench
