package kube

import (
	"errors"
	"os"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// Stop kills both servers by process ID and removes the directory.
func TestStop(t *testing.T) {
	began := time.Now()
	s := New(t, nil)
	t.Logf("second server started in %v", time.Since(began).Round(time.Millisecond))
	pids := []int{s.etcd.cmd.Process.Pid, s.apiserver.cmd.Process.Pid}
	s.Stop()
	s.Stop() // a second Stop is harmless
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after Stop: %v", pid, err)
		}
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Stop: %v", s.Dir, err)
	}
	select {
	case <-s.apiserver.done:
	case <-time.After(time.Second):
		t.Error("kube-apiserver not reaped")
	}
}

// build.sh, the wrapper module and Version name the same Kubernetes release.
func TestVersionsAgree(t *testing.T) {
	for _, tc := range []struct {
		file string
		re   string
	}{
		{"build.sh", `(?m)^KUBE_VERSION=(\S+)$`},
		{"build/kube-apiserver/go.mod", `(?m)^\s*(?:require\s+)?k8s\.io/kubernetes (\S+)$`},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(tc.re).FindSubmatch(data)
		if m == nil || string(m[1]) != Version {
			t.Errorf("%s: version %q, want %s", tc.file, m, Version)
		}
	}
}

func TestCheckUsers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users []User
		ok    bool
	}{
		{"none", nil, true},
		{"two", []User{{Name: "a"}, {Name: "b", Groups: []string{"g1", "g2"}}}, true},
		{"reserved admin", []User{{Name: AdminUser}}, false},
		{"duplicate", []User{{Name: "a"}, {Name: "a"}}, false},
		{"empty", []User{{Name: ""}}, false},
		{"comma", []User{{Name: "a,b"}}, false},
		{"quote in group", []User{{Name: "a", Groups: []string{`g"`}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkUsers(tc.users); (err == nil) != tc.ok {
				t.Errorf("checkUsers = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
