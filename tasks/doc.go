// Package tasks holds one package per pipeline step (fetch, correlate,
// score, decide, gate, remediate, train), named like the commands and,
// prefixed "pulsegate-", like the Tekton tasks. Each step has typed Params
// and Results; the command line and the catalog YAML are checked against
// them. This package holds what the steps share: error kinds that the
// command maps to exit codes.
package tasks

import "errors"

// UsageError marks a problem with what the user asked for: an unknown
// flag, key, type or format, a missing file named on the command line. It
// maps to exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage wraps err as a UsageError (nil stays nil).
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// IsUsage reports whether err is, or wraps, a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}
