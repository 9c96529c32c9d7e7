// Command oore-manifest checks and seals SCM provider plugin manifests.
//
//	oore-manifest check MANIFEST           validate against the schema and rules
//	oore-manifest seal MANIFEST BINARY OUT record BINARY's SHA-256 and write OUT
//
// `make build` seals manifests/gitlab.json into dist/plugins/gitlab/manifest.json.
package main

import (
	"fmt"
	"os"

	"github.com/oore-ci/oore-scm-gitlab/shared/manifest"
	"github.com/oore-ci/oore-scm-gitlab/shared/pluginkit"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "oore-manifest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: oore-manifest check MANIFEST | seal MANIFEST BINARY OUT")
	}
	switch args[0] {
	case "check":
		if len(args) != 2 {
			return fmt.Errorf("usage: oore-manifest check MANIFEST")
		}
		m, err := manifest.Load(args[1], pluginkit.ProtocolVersion)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s %s is valid\n", args[1], m.Name, m.Version)
		return nil
	case "seal":
		if len(args) != 4 {
			return fmt.Errorf("usage: oore-manifest seal MANIFEST BINARY OUT")
		}
		m, err := manifest.Seal(args[1], args[2], args[3])
		if err != nil {
			return err
		}
		fmt.Printf("sealed %s %s: sha256 %s -> %s\n", m.Name, m.Version, m.SHA256, args[3])
		return nil
	default:
		return fmt.Errorf("unknown command %q (check, seal)", args[0])
	}
}
