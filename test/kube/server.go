package kube

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Timeouts for the two servers to become ready. kube-apiserver is ready in
// about 4 s on 2 cores; the margins cover a loaded CI machine.
const (
	etcdReadyTimeout      = 30 * time.Second
	apiserverReadyTimeout = 90 * time.Second
)

// AdminUser is the user name of Server.Config, a member of system:masters.
const AdminUser = "admin"

// NobodyUser is a static-token user that belongs to no group but
// system:authenticated, so that RBAC denies it everything a fresh cluster does
// not grant to every authenticated user.
const NobodyUser = "nobody"

// User is a static-token user of the API server (--token-auth-file).
type User struct {
	// Name is the user name; it must be unique and neither AdminUser nor NobodyUser.
	Name string
	// Groups are the user's groups besides system:authenticated; nil means none.
	Groups []string
}

// Options configure a Server. The zero value (or nil) is a plain server.
type Options struct {
	// Users are static-token users in addition to AdminUser and NobodyUser. Their
	// tokens are generated; UserConfig returns a configuration for each.
	Users []User
	// APIServerArgs are extra kube-apiserver flags, appended after the
	// harness's own (a later flag wins), e.g. "--feature-gates=...".
	APIServerArgs []string
	// Setup, if not nil, runs once after the server is ready, before any test
	// (for Main) or before New returns; use it for shared fixtures.
	Setup func(ctx context.Context, s *Server) error
	// Logger receives the harness's own events (start, stop, errors of the
	// default ServiceAccount creator); nil discards them. The servers' logs go to
	// files in Server.Dir.
	Logger *slog.Logger
	// Progress receives build.sh's progress lines on a first run; nil means os.Stderr.
	Progress io.Writer
	// NoBuild makes missing binaries an ErrUnavailable instead of running
	// build.sh. Main sets it under go test -short, which must stay quick.
	NoBuild bool
}

// Server is a running etcd and kube-apiserver pair. Its fields must not be
// modified; copy Config with rest.CopyConfig before changing it.
type Server struct {
	// URL is the API server's address, https://127.0.0.1:<port>.
	URL string
	// Config authenticates as AdminUser (system:masters) with a bearer token and
	// trusts the server's self-signed CA. Client-side rate limiting is raised to
	// QPS 1000, burst 2000, so tests are not throttled by client-go's default of 5.
	Config *rest.Config
	// Client is a clientset built from Config.
	Client kubernetes.Interface
	// Kubeconfig is the path of a kubeconfig file for Config, with cluster,
	// user and current context all named "pulsegate-test", for testing
	// --kubeconfig flags.
	Kubeconfig string
	// CAData is the PEM of the CA that signed the serving certificate.
	CAData []byte
	// Dir is the temporary directory holding certificates, the token file,
	// etcd's data and the logs (etcd.log, kube-apiserver.log); Stop removes it.
	Dir string

	tokens map[string]string // user name -> bearer token
	log    *slog.Logger

	etcd, apiserver *process
	stopSA          context.CancelFunc
	stopOnce        sync.Once
}

// process is a started server whose exit is observed by a goroutine.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // exit status, valid after done
}

// Start builds the binaries if needed (see Binaries), starts etcd and
// kube-apiserver on free 127.0.0.1 ports and waits until /readyz answers ok and
// the "default" ServiceAccount exists. ctx bounds the start, not the server's
// life: call Stop. The error wraps ErrUnavailable when the binaries cannot be
// had; otherwise it carries the tail of the failing server's log.
func Start(ctx context.Context, opts *Options) (*Server, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := checkUsers(opts.Users); err != nil {
		return nil, err
	}
	var bin string
	var err error
	if opts.NoBuild {
		bin, err = prebuilt()
	} else {
		bin, err = Binaries(ctx, opts.Progress)
	}
	if err != nil {
		return nil, err
	}
	// Free ports are picked by binding port 0 and closing it, so another
	// process can take one before the server binds it; then try again.
	const attempts = 3
	for i := 1; ; i++ {
		s, err := start(ctx, bin, opts)
		if err == nil {
			return s, nil
		}
		if i == attempts || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
}

func checkUsers(users []User) error {
	seen := map[string]bool{AdminUser: true, NobodyUser: true}
	for _, u := range users {
		if u.Name == "" || strings.ContainsAny(u.Name, ",\"\n") {
			return fmt.Errorf("kube: invalid user name %q", u.Name)
		}
		for _, g := range u.Groups {
			if g == "" || strings.ContainsAny(g, ",\"\n") {
				return fmt.Errorf("kube: user %q: invalid group name %q", u.Name, g)
			}
		}
		if seen[u.Name] {
			return fmt.Errorf("kube: user %q given twice or reserved", u.Name)
		}
		seen[u.Name] = true
	}
	return nil
}

func start(ctx context.Context, bin string, opts *Options) (_ *Server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	dir, err := os.MkdirTemp("", "pulsegate-kube-")
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	s := &Server{Dir: dir, log: log, tokens: map[string]string{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	p, err := newPKI(dir)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	s.CAData = p.caPEM
	tokenFile, err := s.writeTokens(opts.Users)
	if err != nil {
		return nil, err
	}

	ports, err := freePorts(3)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	s.etcd, err = startProcess(filepath.Join(bin, "etcd"), dir, "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd-data"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync", // throwaway data: skip fsync, as upstream integration tests do
		"--log-level=warn",
	)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, s.etcd, clientURL+"/health", http.DefaultClient, "", etcdReadyTimeout); err != nil {
		return nil, err
	}

	s.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--etcd-servers=" + clientURL,
		"--cert-dir=" + dir, // never the default /var/run/kubernetes
		"--tls-cert-file=" + p.certFile,
		"--tls-private-key-file=" + p.keyFile,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saKeyFile,
		"--service-account-signing-key-file=" + p.saKeyFile,
		// Service IPs are only allocated, never routed: no kube-proxy here.
		"--service-cluster-ip-range=10.96.0.0/16",
		// The "kubernetes" Service's endpoints would point at 127.0.0.1, which
		// kube-apiserver refuses to reconcile (loopback); no reconciler at all.
		"--endpoint-reconciler-type=none",
		// Security tools run privileged pods; tests must be able to create them.
		"--allow-privileged=true",
		"--profiling=false",
	}
	args = append(args, opts.APIServerArgs...)
	s.apiserver, err = startProcess(filepath.Join(bin, "kube-apiserver"), dir, "kube-apiserver", args...)
	if err != nil {
		return nil, err
	}

	s.Config = &rest.Config{
		Host:            s.URL,
		BearerToken:     s.tokens[AdminUser],
		TLSClientConfig: rest.TLSClientConfig{CAData: s.CAData},
		QPS:             1000,
		Burst:           2000,
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if err := waitReady(ctx, s.apiserver, s.URL+"/readyz", hc, s.tokens[AdminUser], apiserverReadyTimeout); err != nil {
		return nil, err
	}
	if s.Client, err = kubernetes.NewForConfig(s.Config); err != nil {
		return nil, fmt.Errorf("kube: client: %w", err)
	}
	s.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := s.WriteKubeconfig(s.Kubeconfig, s.Config); err != nil {
		return nil, err
	}

	saCtx, cancel := context.WithCancel(context.Background())
	s.stopSA = cancel
	if err := s.runDefaultServiceAccounts(ctx, saCtx); err != nil {
		return nil, err
	}
	log.Info("kube-apiserver ready", "url", s.URL, "dir", dir, "took", time.Since(began).Round(time.Millisecond))

	if opts.Setup != nil {
		if err := opts.Setup(ctx, s); err != nil {
			return nil, fmt.Errorf("kube: setup: %w", err)
		}
	}
	return s, nil
}

// writeTokens writes the static token file: one line "token,user,uid,groups".
func (s *Server) writeTokens(users []User) (string, error) {
	all := append([]User{{Name: AdminUser, Groups: []string{"system:masters"}}, {Name: NobodyUser}}, users...)
	var b strings.Builder
	for _, u := range all {
		raw := make([]byte, 16)
		if _, err := rand.Read(raw); err != nil {
			return "", fmt.Errorf("kube: token: %w", err)
		}
		tok := hex.EncodeToString(raw)
		s.tokens[u.Name] = tok
		fmt.Fprintf(&b, "%s,%s,%s", tok, u.Name, u.Name)
		if len(u.Groups) > 0 {
			fmt.Fprintf(&b, ",\"%s\"", strings.Join(u.Groups, ","))
		}
		b.WriteByte('\n')
	}
	path := filepath.Join(s.Dir, "tokens.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("kube: %w", err)
	}
	return path, nil
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startProcess(path, dir, name string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Kill the server if the test binary dies without calling Stop (a go test
	// timeout, a panic in TestMain); its own process group keeps a terminal's
	// Ctrl-C from reaching it before Stop runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kube: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls url until it answers 200, the process exits, or the timeout.
func waitReady(ctx context.Context, p *process, url string, hc *http.Client, token string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("kube: %w", err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("kube: %s exited before it was ready (%v); %s", p.name, p.err, p.tail(30))
		case <-ctx.Done():
			return fmt.Errorf("kube: %s not ready at %s after %v (last answer: %s); %s", p.name, url, timeout, last, p.tail(30))
		case <-tick.C:
		}
	}
}

// tail returns the last n lines of the process's log, introduced by its path.
func (p *process) tail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("no log: %v", err)
	}
	return fmt.Sprintf("last lines of %s:\n%s", p.logPath, lastLines(string(data), n))
}

// Logs returns the last n lines of etcd's and kube-apiserver's logs, for a
// failure message. It returns "" for a stopped server.
func (s *Server) Logs(n int) string {
	var b strings.Builder
	for _, p := range []*process{s.etcd, s.apiserver} {
		if p != nil {
			b.WriteString(p.tail(n))
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Stop kills kube-apiserver and etcd by process ID, waits for them to exit and
// removes Dir. It is safe to call more than once and on a partly started server.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.stopSA != nil {
			s.stopSA()
		}
		for _, p := range []*process{s.apiserver, s.etcd} {
			if p == nil {
				continue
			}
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				s.log.Error("server did not exit after SIGKILL", "name", p.name, "pid", p.cmd.Process.Pid)
			}
		}
		if err := os.RemoveAll(s.Dir); err != nil {
			s.log.Error("remove harness directory", "dir", s.Dir, "err", err)
		}
		s.log.Info("kube-apiserver stopped", "url", s.URL)
	})
}

// Token returns the bearer token of a static-token user (AdminUser,
// NobodyUser or one of Options.Users), or "" for an unknown name.
func (s *Server) Token(user string) string { return s.tokens[user] }

// TokenConfig returns a copy of Config that authenticates with token instead
// of the admin token.
func (s *Server) TokenConfig(token string) *rest.Config {
	c := rest.CopyConfig(s.Config)
	c.BearerToken = token
	return c
}

// UserConfig returns a configuration that authenticates as a static-token
// user: AdminUser, NobodyUser or one of Options.Users.
func (s *Server) UserConfig(user string) (*rest.Config, error) {
	tok, ok := s.tokens[user]
	if !ok {
		return nil, fmt.Errorf("kube: no static-token user %q", user)
	}
	return s.TokenConfig(tok), nil
}

// ImpersonateConfig returns a copy of Config that impersonates user with
// groups (as kubectl --as and --as-group do): RBAC then authorizes every
// request as that user, while authentication stays the admin's.
func (s *Server) ImpersonateConfig(user string, groups ...string) *rest.Config {
	c := rest.CopyConfig(s.Config)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return c
}

// WriteKubeconfig writes a kubeconfig file for cfg (a configuration of this
// server: Config, TokenConfig, UserConfig, ServiceAccountConfig or
// ImpersonateConfig) to path, with cluster, user and context named
// "pulsegate-test".
func (s *Server) WriteKubeconfig(path string, cfg *rest.Config) error {
	const name = "pulsegate-test"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		Token:             cfg.BearerToken,
		Impersonate:       cfg.Impersonate.UserName,
		ImpersonateGroups: cfg.Impersonate.Groups,
	}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("kube: write kubeconfig %s: %w", path, err)
	}
	return nil
}
