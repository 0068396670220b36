// Package cli holds pulsegate's commands: thin cobra wrappers that parse
// flags, call the steps in tasks/, and print. Commands write to
// cmd.OutOrStdout() and cmd.ErrOrStderr() so that tests can run them.
package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/tasks"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// Exit codes, as in the README.
const (
	ExitProceed = 0
	ExitBlock   = 1
	ExitUsage   = 2
	ExitRuntime = 3
)

// ExitError carries an exit code. Silent errors have been reported already.
type ExitError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// NewRootCommand builds the command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "pulsegate",
		Short: "A runtime-aware deployment gate for Kubernetes",
		Long: `pulsegate asks the destination whether it is safe to land a release now:
it reads live security telemetry, maps the release to the resources it will
touch, scores the risk and lets a deterministic policy say proceed or block,
with reasons and evidence.

Exit codes: 0 proceed (always in shadow mode), 1 block, 2 usage or
configuration error, 3 runtime error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return tasks.Usage(fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	root.AddCommand(
		newFetchCommand(),
		newSignalsCommand(),
		newGateCommand(),
		newNormalizeCommand(),
		newPolicyCommand(),
		newDecideCommand(),
		newReplayCommand(),
		newSourcesCommand(),
		newCorrelateCommand(),
		newInventoryCommand(),
		newModelCommand(),
		newScoreCommand(),
		newTrainCommand(),
		newAttestCommand(),
		newVerifyCommand(),
		newAuditCommand(),
		newRemediateCommand(),
	)
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	return root
}

// Code maps an error from a command to an exit code.
func Code(err error) int {
	if err == nil {
		return ExitProceed
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if tasks.IsUsage(err) {
		return ExitUsage
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, " "+p) {
			return ExitUsage
		}
	}
	return ExitRuntime
}
