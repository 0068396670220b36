package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/attest"
	"github.com/pulsegate/pulsegate/tasks"
)

func newVerifyCommand() *cobra.Command {
	var keyPath, image, now string
	var maxAge time.Duration
	var allowBlock bool
	c := &cobra.Command{
		Use:   "verify ATTESTATION --key PUB --image DIGEST [--max-age 1h]",
		Short: "Check a signed decision: signature, subject, age and verdict",
		Long: `verify checks a DSSE envelope written by 'pulsegate attest' (or read from a
registry with 'cosign download attestation'), in this order:

  signature  the envelope is signed by --key (ed25519, PEM PKIX)
  statement  it is an in-toto Statement v1 with pulsegate's predicate type
  subject    --image (sha256:<hex> or NAME@sha256:<hex>) is one of its subjects
  age        the decision is no older than --max-age
  verdict    the decision is proceed (--allow-block accepts block)

It exits 0 when every check passes, 1 when one fails (the message names
the check), and 2 for a usage error (a missing flag or an unreadable file).`,
		Example: `  pulsegate verify decision.intoto.json --key pulsegate.pub \
    --image sha256:4f3c... --max-age 1h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return tasks.Usage(errors.New("no public key: give --key PATH"))
			}
			if image == "" {
				return tasks.Usage(errors.New("no image: give --image sha256:<hex> or NAME@sha256:<hex>"))
			}
			if maxAge < 0 {
				return tasks.Usage(errors.New("--max-age must not be negative"))
			}
			pk, err := attest.LoadPublicKey(keyPath)
			if err != nil {
				return tasks.Usage(err)
			}
			o := attest.Options{Key: pk, Image: image, MaxAge: maxAge, AllowBlock: allowBlock}
			if now != "" {
				t, err := time.Parse(time.RFC3339Nano, now)
				if err != nil {
					return tasks.Usage(fmt.Errorf("--now: %q is not an RFC 3339 time", now))
				}
				o.Now = t
			}
			b, err := readInput(cmd, args[0])
			if err != nil {
				return tasks.Usage(fmt.Errorf("attestation: %w", err))
			}
			fail := func(check string, err error) error {
				return &ExitError{Code: ExitBlock, Err: fmt.Errorf("verify %s: %s check failed: %w", args[0], check, err)}
			}
			env, err := attest.ParseEnvelope(b)
			if err != nil {
				return fail("envelope", err)
			}
			r, err := attest.Verify(env, o)
			if err != nil {
				return fail(checkName(err), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified: %s: decision %s, %s at %s (%s ago), signed by key %s\n",
				image, r.Predicate.DecisionID, r.Predicate.Verdict, r.Time.UTC().Format(time.RFC3339), r.Age.Round(time.Second), attest.KeyID(pk))
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&keyPath, "key", "", "ed25519 public key, PEM (PKIX)")
	fl.StringVar(&image, "image", "", "image that must be a subject: sha256:<hex> or NAME@sha256:<hex>")
	fl.DurationVar(&maxAge, "max-age", time.Hour, "oldest decision accepted (0: any age)")
	fl.BoolVar(&allowBlock, "allow-block", false, "accept a block verdict (to inspect a decision, not to admit)")
	fl.StringVar(&now, "now", "", "check as of this RFC 3339 time (default: now)")
	return c
}

func checkName(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{attest.ErrEnvelope, "envelope"}, {attest.ErrSignature, "signature"}, {attest.ErrStatement, "statement"},
		{attest.ErrSubject, "subject"}, {attest.ErrExpired, "age"}, {attest.ErrVerdict, "verdict"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "key"
}
