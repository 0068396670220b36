package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A source read from the Kubernetes API: its kubeconfig is resolved
// against the configuration's folder; "kubernetes: {}" alone (kubectl's
// defaults) is enough.
func TestKubernetesConfig(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pulsegate.yaml")
	in := `
telemetry:
  - name: trivy-operator
    type: trivy
    cluster: prod-eu-1
    page_size: 50
    kubernetes:
      kubeconfig: kube/config
      context: prod
      namespaces: [payments, checkout]
  - name: in-cluster
    type: trivy
    kubernetes: {}
`
	if err := os.WriteFile(f, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Telemetry[0].Kubernetes
	if k == nil || k.Kubeconfig != filepath.Join(dir, "kube/config") || k.Context != "prod" || strings.Join(k.Namespaces, ",") != "payments,checkout" ||
		!c.Telemetry[0].Pulled() || c.Telemetry[0].PageSize != 50 {
		t.Errorf("kubernetes entry: %+v %+v", c.Telemetry[0], k)
	}
	if k := c.Telemetry[1].Kubernetes; k == nil || k.Kubeconfig != "" || !c.Telemetry[1].Pulled() {
		t.Errorf("in-cluster entry: %+v", c.Telemetry[1])
	}
}

func TestPullConfig(t *testing.T) {
	good := `
telemetry:
  - name: prom
    type: prometheus
    url: http://prometheus.monitoring:9090
    timeout: 10s
    poll_interval: 1m
    auth: {token_file: secrets/prom-token}
    ca_file: ca.pem
    queries:
      - name: container-memory-spike
        expr: max by (namespace, pod, container) (container_memory_working_set_bytes / container_spec_memory_limit_bytes)
        threshold: 0.9
        severity: high
      - name: request-rate-spike
        expr: sum by (namespace, pod) (rate(http_requests_total[5m]))
        op: ">"
        threshold: 1000
        class: 4001
  - name: defender
    type: msgraph-alerts
    url: https://graph.microsoft.com
    lookback: 24h
    filter: "severity ne 'informational'"
    oauth2:
      token_url: https://login.microsoftonline.com/tenant/oauth2/v2.0/token
      client_id: app
      client_secret_env: GRAPH_CLIENT_SECRET
      scopes: [https://graph.microsoft.com/.default]
  - type: falco
    path: falco.jsonl
`
	dir := t.TempDir()
	f := filepath.Join(dir, "pulsegate.yaml")
	if err := os.WriteFile(f, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Telemetry[0]
	if p.URL != "http://prometheus.monitoring:9090" || len(p.Queries) != 2 || *p.Queries[0].Threshold != 0.9 || p.Queries[1].Class != 4001 ||
		p.Auth.TokenFile != filepath.Join(dir, "secrets/prom-token") || p.CAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("prometheus entry: %+v", p)
	}
	if _, timeout, poll, err := p.Durations(); err != nil || timeout.String() != "10s" || poll.String() != "1m0s" {
		t.Errorf("durations: %v %v %v", timeout, poll, err)
	}
	if o := c.Telemetry[1].OAuth2; o == nil || o.ClientSecretEnv != "GRAPH_CLIENT_SECRET" || len(o.Scopes) != 1 {
		t.Errorf("oauth2: %+v", o)
	}

	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"path and url", "telemetry: [{type: prometheus, path: x, url: 'http://p'}]", `"path" and "url" both set`},
		{"neither", "telemetry: [{type: prometheus}]", `missing key "path" (a file) or "url"`},
		{"pull keys on a file", "telemetry: [{type: falco, path: x, timeout: 5s}]", "give \"url\" instead"},
		{"bad url", "telemetry: [{type: prometheus, url: 'prometheus:9090'}]", "not an http or https URL"},
		{"credentials in url", "telemetry: [{type: prometheus, url: 'http://u:p@prom:9090'}]", "credentials in the URL"},
		{"both auths", "telemetry: [{type: x, url: 'http://p', auth: {token_env: A}, oauth2: {client_id: c, client_secret_env: B}}]", `"auth" and "oauth2" both set`},
		{"token file and env", "telemetry: [{type: x, url: 'http://p', auth: {token_env: A, token_file: f}}]", "exactly one of token_file and token_env"},
		{"no client secret", "telemetry: [{type: x, url: 'http://p', oauth2: {client_id: c}}]", "exactly one of client_secret_file"},
		{"no client id", "telemetry: [{type: x, url: 'http://p', oauth2: {client_secret_env: S}}]", `missing key "client_id"`},
		{"secret inline", "telemetry: [{type: x, url: 'http://p', oauth2: {client_id: c, client_secret: s3cret}}]", `unknown key "client_secret"`},
		{"ca and insecure", "telemetry: [{type: x, url: 'https://p', ca_file: a, insecure_skip_verify: true}]", "contradict"},
		{"bad timeout", "telemetry: [{type: x, url: 'http://p', timeout: soon}]", `timeout: "soon"`},
		{"no threshold", "telemetry: [{type: prometheus, url: 'http://p', queries: [{name: a, expr: up}]}]", `missing key "threshold"`},
		{"no expr", "telemetry: [{type: prometheus, url: 'http://p', queries: [{name: a, threshold: 1}]}]", `missing key "expr"`},
		{"unknown query key", "telemetry: [{type: prometheus, url: 'http://p', queries: [{name: a, expr: up, threshold: 1, treshold: 2}]}]", `unknown key "treshold"`},
		{"url and kubernetes", "telemetry: [{type: trivy, url: 'http://p', kubernetes: {}}]", `"url" and "kubernetes" both set`},
		{"path and kubernetes", "telemetry: [{type: trivy, path: x, kubernetes: {}}]", `"path" and "kubernetes" both set`},
		{"auth with kubernetes", "telemetry: [{type: trivy, kubernetes: {}, auth: {token_env: T}}]", "credentials and TLS come from the kubeconfig"},
		{"empty namespace", "telemetry: [{type: trivy, kubernetes: {namespaces: [a, '']}}]", "kubernetes.namespaces[1]: empty namespace"},
		{"namespace twice", "telemetry: [{type: trivy, kubernetes: {namespaces: [a, a]}}]", `kubernetes.namespaces[1]: "a" listed twice`},
		{"unknown kubernetes key", "telemetry: [{type: trivy, kubernetes: {namespace: a}}]", `unknown key "namespace"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}
