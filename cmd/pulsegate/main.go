// Command pulsegate is a runtime-aware deployment gate for Kubernetes. See
// README.md; `pulsegate --help` lists the commands.
package main

import (
	"fmt"
	"os"

	"github.com/pulsegate/pulsegate/internal/cli"
)

func main() {
	err := cli.NewRootCommand().Execute()
	code := cli.Code(err)
	if err != nil {
		var silent bool
		if ee, ok := err.(*cli.ExitError); ok {
			silent = ee.Silent
		}
		if !silent {
			fmt.Fprintln(os.Stderr, "pulsegate:", err)
		}
	}
	os.Exit(code)
}
