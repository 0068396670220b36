package httpclient

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a credential: a bearer token or an OAuth2 client secret. It
// prints as "<secret>" through fmt (every verb), JSON and slog, so that it
// cannot reach a log, an error or a report by accident. Reveal returns the
// value for the one place that must send it.
type Secret struct {
	v string
}

// Redacted is what a Secret prints as.
const Redacted = "<secret>"

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the secret's value. Call it only to put the value on the
// wire.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer (the %#v verb).
func (s Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb prints "<secret>".
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON writes "<secret>".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText writes "<secret>" (YAML, slog's text handler).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LoadSecret reads a secret from file (surrounding white space trimmed) or,
// when file is empty, from the environment variable env. Exactly one of
// them must be set. what names the secret in errors ("auth token"); the
// errors name the file or variable, never the value.
func LoadSecret(what, file, env string) (Secret, error) {
	switch {
	case file != "" && env != "":
		return Secret{}, fmt.Errorf("%s: set a file or an environment variable, not both", what)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named once, below
			}
			return Secret{}, fmt.Errorf("%s: read %s: %w", what, file, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, fmt.Errorf("%s: file %s is empty", what, file)
		}
		return Secret{v: v}, nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return Secret{}, fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		v = strings.TrimSpace(v)
		if v == "" {
			return Secret{}, fmt.Errorf("%s: environment variable %s is empty", what, env)
		}
		return Secret{v: v}, nil
	}
	return Secret{}, fmt.Errorf("%s: no file or environment variable given", what)
}

// scrub replaces every occurrence of each secret's value in s with
// "<secret>": a last line of defence for text that came from elsewhere (a
// server's error body that echoes a credential back).
func scrub(s string, secrets []Secret) string {
	for _, x := range secrets {
		if len(x.v) >= 4 && strings.Contains(s, x.v) {
			s = strings.ReplaceAll(s, x.v, Redacted)
		}
	}
	return s
}
