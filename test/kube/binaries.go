package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Version is the Kubernetes version that build.sh builds and the harness runs.
// build.sh and build/kube-apiserver/go.mod name the same version (a test checks).
const Version = "v1.37.2"

// ErrUnavailable is wrapped by the errors of Start and Binaries when the
// binaries cannot be found or built on this machine; it is not returned when
// they exist but fail to start.
var ErrUnavailable = errors.New("kube-apiserver harness unavailable")

// CacheDir returns the directory that holds the etcd and kube-apiserver
// binaries of Version: $PULSEGATE_KUBE_CACHE/<Version> if that variable is set,
// otherwise <user cache dir>/pulsegate/kube/<Version> ($XDG_CACHE_HOME or
// $HOME/.cache on Linux), the same directory build.sh uses.
func CacheDir() (string, error) {
	if root := os.Getenv("PULSEGATE_KUBE_CACHE"); root != "" {
		return filepath.Join(root, Version), nil
	}
	root, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate cache directory: %w", err)
	}
	return filepath.Join(root, "pulsegate", "kube", Version), nil
}

// Binaries returns the directory holding the etcd and kube-apiserver binaries,
// running build.sh first when either is missing. Build progress goes to
// progress (nil means os.Stderr); the first build takes several minutes. The
// error wraps ErrUnavailable when the binaries cannot be had.
func Binaries(ctx context.Context, progress io.Writer) (string, error) {
	if progress == nil {
		progress = os.Stderr
	}
	dir, err := CacheDir()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if haveBinaries(dir) {
		return dir, nil
	}
	script, err := buildScript()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("%w: binaries missing in %s and no Go toolchain to build them: %v", ErrUnavailable, dir, err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout = io.Discard
	cmd.Stderr = io.MultiWriter(progress, &stderr)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s failed: %v: %s", ErrUnavailable, script, err, lastLines(stderr.String(), 5))
	}
	if !haveBinaries(dir) {
		return "", fmt.Errorf("%w: %s succeeded but %s lacks etcd or kube-apiserver", ErrUnavailable, script, dir)
	}
	return dir, nil
}

// prebuilt returns the cache directory if it holds both binaries.
func prebuilt() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !haveBinaries(dir) {
		return "", fmt.Errorf("%w: binaries not built in %s (run bash test/kube/build.sh)", ErrUnavailable, dir)
	}
	return dir, nil
}

func haveBinaries(dir string) bool {
	for _, name := range []string{"etcd", "kube-apiserver"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// buildScript finds build.sh: beside this source file when the test binary was
// built without -trimpath, otherwise in test/kube of the main module that holds
// the working directory (go test runs tests in their package's directory).
func buildScript() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		script := filepath.Join(filepath.Dir(file), "build.sh")
		if _, err := os.Stat(script); err == nil {
			return script, nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find build.sh: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find build.sh: not inside the pulsegate module")
	}
	script := filepath.Join(filepath.Dir(gomod), "test", "kube", "build.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("find build.sh: %w", err)
	}
	return script, nil
}

// lastLines returns the last n lines of s, trimmed.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
