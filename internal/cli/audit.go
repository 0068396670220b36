package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pulsegate/pulsegate/pkg/attest"
	"github.com/pulsegate/pulsegate/pkg/audit"
	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/pkg/report"
	"github.com/pulsegate/pulsegate/tasks"
)

func newAuditCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Work with the hash-chained audit log (pulsegate gate --audit-log)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var head string
	v := &cobra.Command{
		Use:   "verify LOG [--head HASH]",
		Short: "Check that no record of the audit log was edited, removed, inserted or reordered",
		Long: `verify reads the whole audit log and checks every record's own hash, its
seq and its link (prev) to the record before. It prints the number of
records and the head hash, and exits 0; on the first break it names the
line and exits 1. Records cut off the end are found only with --head: keep
the head hash printed earlier somewhere the log's writers cannot change.`,
		Example: `  pulsegate audit verify /var/lib/pulsegate/audit.log
  pulsegate audit verify audit.log --head sha256:1abe...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := audit.VerifyFile(args[0])
			var ae *audit.Error
			switch {
			case errors.As(err, &ae):
				return &ExitError{Code: ExitBlock, Err: fmt.Errorf("%s:%d: %w", args[0], ae.Line, ae.Err)}
			case err != nil:
				return tasks.Usage(err)
			}
			if head != "" && head != s.Head {
				return &ExitError{Code: ExitBlock, Err: fmt.Errorf("%s: head is %s after %d records, not the expected %s: records were cut off the end or the log was rewritten", args[0], s.Head, s.Records, head)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d records, chain intact; head %s\n", args[0], s.Records, s.Head)
			return nil
		},
	}
	v.Flags().StringVar(&head, "head", "", "expected hash of the last record, as printed by an earlier verify")
	c.AddCommand(v)
	return c
}

// evidenceFlags are the gate's outputs beyond the report: the audit log, a
// signed attestation, result files and full reports.
type evidenceFlags struct {
	auditLog, attestKey, attestOut, resultsDir, reportDir string
}

func (e *evidenceFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&e.auditLog, "audit-log", "", "append the decision to this hash-chained audit log (JSON lines)")
	fl.StringVar(&e.attestKey, "attest-key", "", "sign the decision as an in-toto attestation with this ed25519 key (PEM, PKCS #8)")
	fl.StringVar(&e.attestOut, "attestation-out", "", "where to write the signed attestation (default with --attest-key: decision.intoto.json)")
	fl.StringVar(&e.resultsDir, "results-dir", "", "write result files verdict, risk-score, summary, decision-id here (Tekton results, Argo output parameters)")
	fl.StringVar(&e.reportDir, "report-dir", "", "write the full report here: decision.json, report.md, report.txt")
}

// check reports usage errors before the gate runs, so that a bad key does
// not surface after the decision.
func (e *evidenceFlags) check() (sign func(*policy.Decision) ([]byte, []string, error), err error) {
	if e.attestOut != "" && e.attestKey == "" {
		return nil, tasks.Usage(errors.New("--attestation-out needs --attest-key"))
	}
	if e.attestKey == "" {
		return nil, nil
	}
	sk, err := attest.LoadPrivateKey(e.attestKey)
	if err != nil {
		return nil, tasks.Usage(err)
	}
	return func(d *policy.Decision) ([]byte, []string, error) {
		st, unpinned, err := attest.StatementFor(d)
		if err != nil {
			return nil, unpinned, err
		}
		env, err := signEnvelope(st, sk)
		return env, unpinned, err
	}, nil
}

// write records d everywhere asked. Every output is attempted; the errors
// are joined.
func (e *evidenceFlags) write(cmd *cobra.Command, d *policy.Decision, sign func(*policy.Decision) ([]byte, []string, error)) error {
	var errs []error
	if e.resultsDir != "" {
		errs = append(errs, report.WriteResults(e.resultsDir, d))
	}
	if e.reportDir != "" {
		errs = append(errs, report.WriteReports(e.reportDir, d))
	}
	if sign != nil {
		env, unpinned, err := sign(d)
		warnUnpinned(cmd.ErrOrStderr(), unpinned)
		if err != nil {
			errs = append(errs, fmt.Errorf("attestation: %w", err))
		} else {
			out := e.attestOut
			if out == "" {
				out = "decision.intoto.json"
			}
			if err := os.WriteFile(out, append(env, '\n'), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("write attestation: %w", err))
			}
		}
	}
	if e.auditLog != "" {
		rec, err := audit.FromDecision(d)
		if err == nil {
			_, err = audit.Append(e.auditLog, rec)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
