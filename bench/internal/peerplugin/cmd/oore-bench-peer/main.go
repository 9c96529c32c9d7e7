// Command oore-bench-peer is the benchmarks' peer plugin: a GitLab webhook
// plugin in the style of Woodpecker CI's forge addons (go-plugin net/rpc, JSON
// []byte each way, client-go's ParseWebhook). See package peerplugin.
package main

import "github.com/oore-ci/oore-scm-gitlab/bench/internal/peerplugin"

func main() { peerplugin.Serve() }
