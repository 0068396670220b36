package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: prod-eu-1
  cluster: {server: "https://10.0.0.1:6443"}
- name: dev
  cluster: {server: "https://10.0.0.2:6443"}
users:
- name: ci
  user: {token: not-a-real-token}
contexts:
- name: prod
  context: {cluster: prod-eu-1, user: ci, namespace: payments}
- name: dev
  context: {cluster: dev, user: ci}
current-context: dev
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	path := write(t, twoContexts)
	tests := []struct {
		name                      string
		opt                       Options
		env                       string
		host, ctx, cluster, names string
	}{
		{name: "current context, namespace defaults", opt: Options{Path: path}, host: "https://10.0.0.2:6443", ctx: "dev", cluster: "dev", names: "default"},
		{name: "named context with its namespace", opt: Options{Path: path, Context: "prod"}, host: "https://10.0.0.1:6443", ctx: "prod", cluster: "prod-eu-1", names: "payments"},
		{name: "KUBECONFIG honoured", opt: Options{Context: "prod"}, env: path, host: "https://10.0.0.1:6443", ctx: "prod", cluster: "prod-eu-1", names: "payments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			c, err := Load(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if c.Config.Host != tc.host || c.Context != tc.ctx || c.Name != tc.cluster || c.Namespace != tc.names {
				t.Errorf("got host %s context %s cluster %s namespace %s, want %s %s %s %s",
					c.Config.Host, c.Context, c.Name, c.Namespace, tc.host, tc.ctx, tc.cluster, tc.names)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	path := write(t, twoContexts)
	t.Setenv("KUBECONFIG", "")
	_, err := Load(Options{Path: path, Context: "staging"})
	if err == nil || !strings.Contains(err.Error(), `no context "staging"`) || !strings.Contains(err.Error(), "[dev prod]") {
		t.Errorf("unknown context: %v", err)
	}
	_, err = Load(Options{Path: filepath.Join(t.TempDir(), "missing")})
	if err == nil {
		t.Error("missing file: no error")
	}
	bad := write(t, "clusters: [")
	if _, err := Load(Options{Path: bad}); err == nil {
		t.Error("bad YAML: no error")
	}
}

func TestContexts(t *testing.T) {
	got, err := Contexts(Options{Path: write(t, twoContexts)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "dev,prod" {
		t.Errorf("contexts %v", got)
	}
}
