package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Pull configures a source that pulsegate polls over HTTP (prometheus,
// alertmanager, msgraph-alerts, crowdstrike). Credentials are never in
// this file: it names a file or an environment variable that holds them.
type Pull struct {
	// URL is the API's base URL ("http://prometheus.monitoring:9090").
	URL string `yaml:"url"`
	// Queries are Prometheus instant queries with thresholds.
	Queries []Query `yaml:"queries"`
	// Filter narrows what is fetched, in the API's language (an
	// Alertmanager matcher list, a Graph $filter, a CrowdStrike FQL filter).
	Filter string `yaml:"filter"`
	// Lookback is how far back alert APIs are asked ("24h").
	Lookback string `yaml:"lookback"`
	// PageSize is the page size asked for (0: the adapter's default).
	PageSize int `yaml:"page_size"`
	// Auth is a static bearer token.
	Auth *TokenAuth `yaml:"auth"`
	// OAuth2 is the client-credentials grant.
	OAuth2 *OAuth2 `yaml:"oauth2"`
	// CAFile is a PEM bundle trusted besides the system's roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns TLS verification off (tests only; loud).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds one HTTP attempt ("10s").
	Timeout string `yaml:"timeout"`
	// PollInterval is how often the source is polled by a running
	// service ("1m"); `pulsegate fetch` polls once.
	PollInterval string `yaml:"poll_interval"`
	// Kubernetes, instead of URL, reads the source from the Kubernetes
	// API (trivy: Trivy Operator's VulnerabilityReports).
	Kubernetes *Kubernetes `yaml:"kubernetes"`
}

// Kubernetes says which cluster to read and where. Credentials and TLS
// come from the kubeconfig (or the in-cluster ServiceAccount).
type Kubernetes struct {
	// Kubeconfig is a kubeconfig file; empty is kubectl's default (the
	// KUBECONFIG list, ~/.kube/config, else in-cluster).
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context; empty is the current one.
	Context string `yaml:"context"`
	// Namespaces limits the read to these namespaces; empty reads all.
	Namespaces []string `yaml:"namespaces"`
}

// Pulled reports whether the source is polled (a url or the Kubernetes
// API) rather than read from a file.
func (p Pull) Pulled() bool { return p.URL != "" || p.Kubernetes != nil }

// Query is one Prometheus instant query with a threshold.
type Query struct {
	Name      string   `yaml:"name"`
	Expr      string   `yaml:"expr"`
	Op        string   `yaml:"op"`        // >, >=, <, <= (default >)
	Threshold *float64 `yaml:"threshold"` // required
	Severity  string   `yaml:"severity"`  // OCSF caption or number; default medium
	Class     int      `yaml:"class"`     // 6002 (default), 4001 for traffic, 2004
	Title     string   `yaml:"title"`
}

// TokenAuth names where a bearer token is: a file or an environment
// variable, exactly one.
type TokenAuth struct {
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
}

// OAuth2 is the client-credentials grant: the client secret is read from
// a file or an environment variable, exactly one.
type OAuth2 struct {
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	Scopes           []string `yaml:"scopes"`
}

// Durations returns Lookback, Timeout and PollInterval parsed; zero when
// unset.
func (p Pull) Durations() (lookback, timeout, poll time.Duration, err error) {
	var errs []error
	parse := func(key, v string) time.Duration {
		if v == "" {
			return 0
		}
		d, e := time.ParseDuration(v)
		if e != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration like 30s", key, v))
		}
		return d
	}
	lookback = parse("lookback", p.Lookback)
	timeout = parse("timeout", p.Timeout)
	poll = parse("poll_interval", p.PollInterval)
	return lookback, timeout, poll, errors.Join(errs...)
}

// checkPull checks the pull keys of one telemetry entry.
func (t Telemetry) checkPull() []error {
	p := t.Pull
	pullKeys := p.URL != "" || len(p.Queries) > 0 || p.Filter != "" || p.Auth != nil || p.OAuth2 != nil || p.CAFile != "" ||
		p.InsecureSkipVerify || p.Timeout != "" || p.PollInterval != "" || p.Lookback != "" || p.PageSize != 0 || p.Kubernetes != nil
	if !pullKeys {
		return nil
	}
	var errs []error
	if k := p.Kubernetes; k != nil {
		errs = append(errs, k.check(p)...)
	}
	if t.Path != "" {
		if p.Kubernetes != nil {
			errs = append(errs, errors.New(`"path" and "kubernetes" both set: a source is read from a file or from the Kubernetes API, not both`))
		} else if p.URL != "" {
			errs = append(errs, errors.New(`"path" and "url" both set: a source is read from a file or pulled, not both`))
		} else {
			errs = append(errs, errors.New(`pull keys (url, queries, auth, oauth2, ...) on a file source: give "url" instead of "path"`))
		}
	}
	if p.URL != "" {
		if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("url: %q is not an http or https URL", p.URL))
		} else if u.User != nil {
			errs = append(errs, errors.New("url: credentials in the URL are not allowed: use auth or oauth2 with a file or an environment variable"))
		}
	}
	if _, _, _, err := p.Durations(); err != nil {
		errs = append(errs, err)
	}
	if p.PageSize < 0 {
		errs = append(errs, fmt.Errorf("page_size: %d is negative", p.PageSize))
	}
	if p.Auth != nil && p.OAuth2 != nil {
		errs = append(errs, errors.New(`"auth" and "oauth2" both set: choose one`))
	}
	if a := p.Auth; a != nil && (a.TokenFile == "") == (a.TokenEnv == "") {
		errs = append(errs, errors.New("auth: set exactly one of token_file and token_env"))
	}
	if o := p.OAuth2; o != nil {
		if o.ClientID == "" {
			errs = append(errs, errors.New(`oauth2: missing key "client_id"`))
		}
		if (o.ClientSecretFile == "") == (o.ClientSecretEnv == "") {
			errs = append(errs, errors.New("oauth2: set exactly one of client_secret_file and client_secret_env"))
		}
		if o.TokenURL != "" {
			if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs = append(errs, fmt.Errorf("oauth2.token_url: %q is not an http or https URL", o.TokenURL))
			}
		}
	}
	if p.CAFile != "" && p.InsecureSkipVerify {
		errs = append(errs, errors.New(`"ca_file" and "insecure_skip_verify" contradict each other: set one`))
	}
	for i, q := range p.Queries {
		if q.Threshold == nil {
			errs = append(errs, fmt.Errorf("queries[%d]: missing key \"threshold\"", i))
		} else if math.IsNaN(*q.Threshold) || math.IsInf(*q.Threshold, 0) {
			errs = append(errs, fmt.Errorf("queries[%d]: threshold must be a finite number", i))
		}
		if strings.TrimSpace(q.Expr) == "" {
			errs = append(errs, fmt.Errorf("queries[%d]: missing key \"expr\"", i))
		}
		if q.Name == "" {
			errs = append(errs, fmt.Errorf("queries[%d]: missing key \"name\"", i))
		}
	}
	return errs
}

// check checks a Kubernetes API source's keys.
func (k *Kubernetes) check(p Pull) []error {
	var errs []error
	if p.URL != "" {
		errs = append(errs, errors.New(`"url" and "kubernetes" both set: choose one`))
	}
	if p.Auth != nil || p.OAuth2 != nil || p.CAFile != "" || p.InsecureSkipVerify {
		errs = append(errs, errors.New(`"kubernetes": credentials and TLS come from the kubeconfig: remove auth, oauth2, ca_file and insecure_skip_verify`))
	}
	seen := map[string]bool{}
	for i, ns := range k.Namespaces {
		switch {
		case ns == "":
			errs = append(errs, fmt.Errorf("kubernetes.namespaces[%d]: empty namespace", i))
		case seen[ns]:
			errs = append(errs, fmt.Errorf("kubernetes.namespaces[%d]: %q listed twice", i, ns))
		}
		seen[ns] = true
	}
	return errs
}

// resolvePull makes the entry's file paths absolute with abs.
func (t *Telemetry) resolvePull(abs func(*string)) {
	if t.Kubernetes != nil {
		abs(&t.Kubernetes.Kubeconfig)
	}
	if t.Auth != nil {
		abs(&t.Auth.TokenFile)
	}
	if t.OAuth2 != nil {
		abs(&t.OAuth2.ClientSecretFile)
	}
	abs(&t.CAFile)
}
