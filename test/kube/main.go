package kube

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// startTimeout bounds Main's and New's start of the server, including a first
// build of the binaries (about 5 minutes on 2 cores; run build.sh beforehand to
// keep it out of go test's timeout).
const startTimeout = 15 * time.Minute

// requireEnv, set to 1, turns "harness unavailable" skips into failures.
const requireEnv = "PULSEGATE_KUBE_REQUIRE"

// shared is the server that Main started for the test binary.
var shared struct {
	started bool // Main ran
	srv     *Server
	err     error
}

// Main starts one server for a test binary, runs its tests and stops the
// server, then exits; call it from TestMain. Tests reach the server with
// Shared. If the server cannot be started, the tests still run and Shared
// skips or fails them. When tests fail, the tail of the servers' logs is
// printed to stderr. Under go test -short, Main does not build missing
// binaries (the tests are skipped instead). opts may be nil.
func Main(m *testing.M, opts *Options) {
	os.Exit(runMain(m, opts))
}

func runMain(m *testing.M, opts *Options) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	shared.started = true
	shared.srv, shared.err = Start(ctx, shortOptions(opts))
	cancel()
	code := m.Run()
	if s := shared.srv; s != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "kube: tests failed; server logs:\n%s", s.Logs(40))
		}
		s.Stop()
	}
	return code
}

// Shared returns the server that Main started for this test binary. It skips
// the test with "kube-apiserver harness unavailable: <reason>" when the
// binaries could not be built, or fails it if PULSEGATE_KUBE_REQUIRE=1; it fails
// the test when the server was built but did not start, or when TestMain does
// not call Main.
func Shared(t testing.TB) *Server {
	t.Helper()
	if !shared.started {
		t.Fatal("kube.Shared: TestMain must call kube.Main(m, opts)")
	}
	if shared.err != nil {
		skipOrFail(t, shared.err)
	}
	return shared.srv
}

// New starts a server of the test's own and stops it when the test ends;
// unavailability and -short are handled as in Shared and Main. Prefer Shared: each server costs
// about 4 s to start.
func New(t testing.TB, opts *Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := Start(ctx, shortOptions(opts))
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", s.Logs(40))
		}
		s.Stop()
	})
	return s
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && os.Getenv(requireEnv) != "1" {
		t.Skip(err.Error())
	}
	t.Fatal(err)
}

// shortOptions returns opts with NoBuild set under go test -short.
func shortOptions(opts *Options) *Options {
	if !testing.Short() {
		return opts
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.NoBuild = true
	return &o
}
