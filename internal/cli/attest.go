package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/pulsegate/pulsegate/pkg/attest"
	"github.com/pulsegate/pulsegate/pkg/attest/oci"
	"github.com/pulsegate/pulsegate/tasks"
)

func newAttestCommand() *cobra.Command {
	var keyPath, out string
	var push bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "attest DECISION.json --key KEY [--out FILE] [--push]",
		Short: "Sign a decision as an in-toto attestation (DSSE), optionally attach it to the images",
		Long: `attest reads a decision record (pulsegate gate -o json), makes an in-toto
Statement v1 whose subjects are the release's images pinned by digest and
whose predicate (` + attest.PredicateType + `) is the decision, and signs
it as a DSSE envelope with an ed25519 key (PEM, PKCS #8; see 'pulsegate
attest keygen'). Images without a digest cannot be subjects: they are listed
in the predicate as unpinned_images, with a warning.

With --push the envelope is attached to every subject in its registry the
way cosign does (tag sha256-<hex>.att), where Kyverno and the Sigstore
policy-controller look. Registry credentials come from the Docker
configuration and credential helpers; TLS is always verified.`,
		Example: `  pulsegate gate --config pulsegate.yaml -o json > decision.json
  pulsegate attest decision.json --key pulsegate.key --out decision.intoto.json
  pulsegate attest decision.json --key pulsegate.key --push`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return tasks.Usage(errors.New("no signing key: give --key PATH (pulsegate attest keygen makes one)"))
			}
			sk, err := attest.LoadPrivateKey(keyPath)
			if err != nil {
				return tasks.Usage(err)
			}
			dec, err := readInput(cmd, args[0])
			if err != nil {
				return tasks.Usage(err)
			}
			st, unpinned, err := attest.NewStatement(dec)
			if err != nil {
				return tasks.Usage(fmt.Errorf("%s: %w", args[0], err))
			}
			warnUnpinned(cmd.ErrOrStderr(), unpinned)
			env, err := signEnvelope(st, sk)
			if err != nil {
				return err
			}
			if out == "" && !push {
				_, err := cmd.OutOrStdout().Write(append(env, '\n'))
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, append(env, '\n'), 0o644); err != nil {
					return fmt.Errorf("write attestation: %w", err)
				}
			}
			if push {
				return pushAttestation(cmd, st, env, timeout)
			}
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "ed25519 private key, PEM (PKCS #8)")
	c.Flags().StringVarP(&out, "out", "o", "", "write the envelope here (default: stdout, unless --push)")
	c.Flags().BoolVar(&push, "push", false, "attach the envelope to every subject image in its registry (cosign's .att tag)")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "time limit for the registry push")
	c.AddCommand(newKeygenCommand())
	return c
}

func newKeygenCommand() *cobra.Command {
	var prefix string
	c := &cobra.Command{
		Use:   "keygen [--prefix NAME]",
		Short: "Write a new ed25519 key pair: NAME.key (PKCS #8, mode 0600) and NAME.pub (PKIX)",
		Long: `keygen writes an ed25519 key pair as PEM: the private key in PKCS #8
(mode 0600) and the public key in PKIX, the format cosign verifies with
(cosign verify-attestation --key NAME.pub) and Kyverno's publicKeys takes.
It never overwrites a file. To sign with cosign as well, import the private
key: cosign import-key-pair --key NAME.key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub := prefix+".key", prefix+".pub"
			if err := attest.WriteKeyPair(priv, pub); err != nil {
				return tasks.Usage(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private, 0600) and %s (public)\n", priv, pub)
			return nil
		},
	}
	c.Flags().StringVar(&prefix, "prefix", "pulsegate", "file name prefix")
	return c
}

func signEnvelope(st *attest.Statement, sk ed25519.PrivateKey) ([]byte, error) {
	env, err := attest.Sign(st, sk)
	if err != nil {
		return nil, err
	}
	return env.Marshal()
}

func warnUnpinned(w io.Writer, unpinned []string) {
	if len(unpinned) > 0 {
		fmt.Fprintf(w, "pulsegate: warning: %d images are not pinned by digest and are not covered by the attestation: %s\n",
			len(unpinned), strings.Join(unpinned, ", "))
	}
}

func pushAttestation(cmd *cobra.Command, st *attest.Statement, env []byte, timeout time.Duration) error {
	ctx := cmd.Context()
	if timeout > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	opts := []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("pulsegate/" + Version)}
	var errs []error
	for _, s := range st.Subject {
		ref, err := name.NewDigest(s.Name + "@sha256:" + s.Digest["sha256"])
		if err != nil {
			errs = append(errs, fmt.Errorf("subject %s: %w", s.Name, err))
			continue
		}
		tag, h, err := oci.Attach(ctx, ref, env, st.PredicateType, opts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "attached to %s as %s (%s)\n", ref, tag, h)
	}
	return errors.Join(errs...)
}

// readInput reads a file, or stdin for "-".
func readInput(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), attest.MaxEnvelopeBytes+1))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b), nil
}
