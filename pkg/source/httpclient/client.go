// Package httpclient is the HTTP client that every pull source shares: per
// attempt timeouts, bounded retries with exponential backoff and jitter,
// Retry-After on 429 and 503 (seconds or an HTTP date), TLS verification
// on by default with an optional CA file, bearer-token or OAuth2
// client-credentials authentication, and paging helpers (Microsoft Graph's
// @odata.nextLink, CrowdStrike's offset and after cursors).
//
// Credentials are Secrets: they print as "<secret>", are sent only in the
// Authorization header or the token request body, and any text a server
// sends back is scrubbed of them before it reaches an error or a log.
package httpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults for Options' zero values.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 4
	DefaultMaxElapsed  = 2 * time.Minute
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
	// DefaultMaxBodyBytes bounds a response body: Graph pages hold at most
	// 2,000 alerts and CrowdStrike entity pages 1,000 (their documented
	// page limits), far below this.
	DefaultMaxBodyBytes = 64 << 20
)

// Options configures a Client. Zero values take the defaults above.
type Options struct {
	// Timeout bounds one attempt (connect, headers and body).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one request, the first included.
	MaxAttempts int
	// MaxElapsed bounds one request's total time, waits included. A
	// Retry-After that would pass it ends the request with an error.
	MaxElapsed time.Duration
	// BaseDelay and MaxDelay shape the backoff: attempt n waits a random
	// time between half and all of min(MaxDelay, BaseDelay*2^(n-1)).
	BaseDelay, MaxDelay time.Duration
	// MaxBodyBytes bounds a response body.
	MaxBodyBytes int64
	// CAFile is a PEM bundle trusted in addition to the system's roots.
	CAFile string
	// InsecureSkipVerify turns TLS verification off. Only for tests and
	// only when set explicitly; New logs a warning every time.
	InsecureSkipVerify bool
	// Auth authenticates requests; nil sends none.
	Auth Auth
	// Logger receives retries and warnings; nil discards them.
	Logger *slog.Logger
	// UserAgent is sent with every request; "pulsegate" when empty.
	UserAgent string
	// Transport replaces the TLS-configured transport (tests).
	Transport http.RoundTripper
}

// Client sends requests with retries and authentication. It is safe for
// concurrent use.
type Client struct {
	hc   *http.Client
	opts Options
	log  *slog.Logger
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// New returns a client for opts. Conflicting or unreadable options are
// errors that name the option.
func New(opts Options) (*Client, error) {
	if opts.Timeout < 0 || opts.MaxAttempts < 0 || opts.MaxElapsed < 0 || opts.BaseDelay < 0 || opts.MaxDelay < 0 || opts.MaxBodyBytes < 0 {
		return nil, errors.New("http client: negative timeout, attempts, delay or body limit")
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxElapsed == 0 {
		opts.MaxElapsed = DefaultMaxElapsed
	}
	if opts.BaseDelay == 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "pulsegate"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.CAFile != "" && opts.InsecureSkipVerify {
		return nil, errors.New("http client: ca_file and insecure_skip_verify contradict each other: set one")
	}
	rt := opts.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pool, err := loadCAFile(opts.CAFile)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		if opts.InsecureSkipVerify {
			log.Warn("TLS CERTIFICATE VERIFICATION IS OFF (insecure_skip_verify): anyone on the network path can read and change this source's traffic, credentials included; use ca_file instead")
			tr.TLSClientConfig.InsecureSkipVerify = true
		}
		rt = tr
	}
	c := &Client{
		hc:    &http.Client{Transport: rt, Timeout: opts.Timeout},
		opts:  opts,
		log:   log,
		sleep: sleepCtx,
		now:   time.Now,
	}
	return c, nil
}

func loadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Request is one HTTP request. Body is sent again on every attempt.
type Request struct {
	Method string // GET when empty
	URL    string
	Header http.Header
	Body   []byte
}

// Response is a successful (2xx) response with its whole body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// StatusError is a response outside 2xx after retries. Body holds the
// start of the response body, scrubbed of the client's secrets.
type StatusError struct {
	Method string
	URL    string // without query string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// errBodySnippet bounds how much of an error body an error quotes.
const errBodySnippet = 300

// Get sends a GET with "Accept: application/json" and returns the body.
func (c *Client) Get(ctx context.Context, rawURL string) ([]byte, error) {
	resp, err := c.Do(ctx, Request{URL: rawURL, Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// PostJSON sends body as JSON and returns the response body.
func (c *Client) PostJSON(ctx context.Context, rawURL string, body []byte) ([]byte, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, URL: rawURL, Body: body, Header: http.Header{
		"Accept": {"application/json"}, "Content-Type": {"application/json"},
	}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Do sends req with authentication, retrying network errors and HTTP 429,
// 500, 502, 503 and 504 within MaxAttempts and MaxElapsed. On 429 and 503
// the wait is the server's Retry-After (or CrowdStrike's
// X-RateLimit-RetryAfter, a Unix time) when it sends one. A 401 with
// OAuth2 drops the cached token and tries once more with a new one.
// Responses outside 2xx are a *StatusError.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	return c.do(ctx, req, c.opts.Auth)
}

func (c *Client) do(ctx context.Context, req Request, auth Auth) (*Response, error) {
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("request URL %q: want an absolute http or https URL", redactURL(req.URL))
	}
	where := req.Method + " " + redactURL(req.URL)
	start := c.now()
	deadline := start.Add(c.opts.MaxElapsed)
	reauthed := false
	var last error
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, req, auth)
		if err == nil && resp.Status == http.StatusUnauthorized && auth != nil && !reauthed && auth.Invalidate() {
			// An expired or revoked token: fetch a new one, once.
			reauthed = true
			c.log.Info("authorization refused, fetching a new token", "request", where)
			attempt--
			continue
		}
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", where, ctx.Err())
			}
			var ae *authError
			if errors.As(err, &ae) {
				return nil, err // the token endpoint retried on its own
			}
			last = fmt.Errorf("%s: %w", where, err)
			wait = c.backoff(attempt)
		case resp.Status >= 200 && resp.Status < 300:
			return resp, nil
		default:
			se := &StatusError{Method: req.Method, URL: redactURL(req.URL), Status: resp.Status, Body: c.snippet(resp.Body)}
			if !retryable(resp.Status) {
				return nil, se
			}
			last = se
			wait = c.backoff(attempt)
			if resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusServiceUnavailable {
				if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
					wait = ra
				} else if ra, ok := parseEpoch(resp.Header.Get("X-RateLimit-RetryAfter"), c.now()); ok {
					wait = ra // CrowdStrike: the Unix time when requests are allowed again
				}
			}
		}
		if attempt >= c.opts.MaxAttempts {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt, last)
		}
		if c.now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("giving up: waiting %s more would pass the %s limit for one request: %w", wait.Round(time.Millisecond), c.opts.MaxElapsed, last)
		}
		c.log.Warn("request failed, retrying", "request", where, "attempt", attempt, "wait", wait.Round(time.Millisecond).String(), "error", last.Error())
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w (after: %w)", where, err, last)
		}
	}
}

func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff is the wait before attempt+1: "equal jitter" over an exponential
// step, so that it never collapses to zero.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.BaseDelay
	for i := 1; i < attempt && d < c.opts.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxDelay)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP
// date (RFC 9110, section 10.2.3). A date in the past means now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second) // larger waits pass any budget anyway
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// parseEpoch reads a Unix time in seconds and returns the wait until it.
func parseEpoch(v string, now time.Time) (time.Duration, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 || n > 253402300799 {
		return 0, false
	}
	return max(time.Unix(n, 0).Sub(now), 0), true
}

func (c *Client) once(ctx context.Context, req Request, auth Auth) (*Response, error) {
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		return nil, errors.New("cannot build the request")
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	hr.Header.Set("User-Agent", c.opts.UserAgent)
	if auth != nil {
		tok, err := auth.Token(ctx, c)
		if err != nil {
			return nil, err
		}
		hr.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	hresp, err := c.hc.Do(hr)
	if err != nil {
		return nil, c.netError(err)
	}
	defer hresp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hresp.Body, c.opts.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", c.netError(err))
	}
	if int64(len(b)) > c.opts.MaxBodyBytes {
		return nil, fmt.Errorf("response body larger than %d bytes", c.opts.MaxBodyBytes)
	}
	return &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: b}, nil
}

// netError drops the *url.Error wrapper, whose text repeats the URL with
// its query string, and scrubs what remains.
func (c *Client) netError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var secrets []Secret
	if c.opts.Auth != nil {
		secrets = c.opts.Auth.Secrets()
	}
	msg := err.Error()
	if s := scrub(msg, secrets); s != msg {
		return errors.New(s)
	}
	return err
}

func (c *Client) snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if c.opts.Auth != nil {
		s = scrub(s, c.opts.Auth.Secrets()) // before cutting: no half secret survives
	}
	if len(s) > errBodySnippet {
		s = s[:errBodySnippet] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// redactURL drops the query string and user information from a URL for
// errors and logs: query strings can carry tokens (some APIs take
// "?access_token=").
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = ""
		u.ForceQuery = false
		return u.String() + "?..."
	}
	return u.String()
}
