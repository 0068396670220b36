package httpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Auth supplies the bearer token of a request.
type Auth interface {
	// Token returns the token to send. c fetches it when it must be
	// requested (OAuth2).
	Token(ctx context.Context, c *Client) (Secret, error)
	// Invalidate drops a cached token after a 401 and reports whether a
	// new one can be fetched (false for a static token).
	Invalidate() bool
	// Secrets lists the values that must never appear in output.
	Secrets() []Secret
}

// Bearer is a static bearer token (a Prometheus or Alertmanager behind an
// authenticating proxy).
type Bearer struct {
	Value Secret
}

// Token implements Auth.
func (b Bearer) Token(context.Context, *Client) (Secret, error) {
	if b.Value.IsZero() {
		return Secret{}, &authError{errors.New("bearer token is empty")}
	}
	return b.Value, nil
}

// Invalidate implements Auth: a static token cannot be renewed.
func (b Bearer) Invalidate() bool { return false }

// Secrets implements Auth.
func (b Bearer) Secrets() []Secret { return []Secret{b.Value} }

// ClientCredentials is the OAuth2 client-credentials grant (RFC 6749,
// section 4.4): the client posts its id and secret to TokenURL and sends
// the access token it gets as a bearer token until it expires. Microsoft
// identity platform and CrowdStrike's /oauth2/token both take the
// credentials as form fields. The token is cached, renewed ExpirySkew
// before it expires, and renewed at once after a 401.
type ClientCredentials struct {
	TokenURL     string
	ClientID     string
	ClientSecret Secret
	// Scopes are sent space-separated as "scope" (Graph:
	// "https://graph.microsoft.com/.default"); none sends no scope.
	Scopes []string

	fetchMu sync.Mutex // one token request at a time
	mu      sync.Mutex // guards token and expiry; never held across I/O
	token   Secret
	expiry  time.Time
	old     []Secret // the last few tokens, still scrubbed from output
}

// ExpirySkew is how long before its expiry a token is renewed.
const ExpirySkew = time.Minute

// defaultTokenLife is assumed when a token response has no expires_in.
const defaultTokenLife = 5 * time.Minute

// Token implements Auth.
func (cc *ClientCredentials) Token(ctx context.Context, c *Client) (Secret, error) {
	if tok, ok := cc.cached(c.now()); ok {
		return tok, nil
	}
	cc.fetchMu.Lock()
	defer cc.fetchMu.Unlock()
	if tok, ok := cc.cached(c.now()); ok {
		return tok, nil // another request fetched it meanwhile
	}
	tok, life, err := cc.fetch(ctx, c)
	if err != nil {
		return Secret{}, &authError{err}
	}
	skew := min(ExpirySkew, life/2)
	cc.mu.Lock()
	cc.retireLocked()
	cc.token, cc.expiry = tok, c.now().Add(life-skew)
	cc.mu.Unlock()
	return tok, nil
}

func (cc *ClientCredentials) cached(now time.Time) (Secret, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.token, !cc.token.IsZero() && now.Before(cc.expiry)
}

// Invalidate implements Auth.
func (cc *ClientCredentials) Invalidate() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.retireLocked()
	cc.token, cc.expiry = Secret{}, time.Time{}
	return true
}

// retireLocked moves the current token to the scrub list; cc.mu is held.
func (cc *ClientCredentials) retireLocked() {
	if cc.token.IsZero() {
		return
	}
	cc.old = append(cc.old, cc.token)
	if len(cc.old) > 4 {
		cc.old = cc.old[1:]
	}
}

// Secrets implements Auth.
func (cc *ClientCredentials) Secrets() []Secret {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return append([]Secret{cc.ClientSecret, cc.token}, cc.old...)
}

type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.Number     `json:"expires_in"`
	Error       string          `json:"error"`
	Description string          `json:"error_description"`
	Errors      json.RawMessage `json:"errors"`
}

func (cc *ClientCredentials) fetch(ctx context.Context, c *Client) (Secret, time.Duration, error) {
	if cc.TokenURL == "" || cc.ClientID == "" || cc.ClientSecret.IsZero() {
		return Secret{}, 0, errors.New("oauth2: token_url, client_id and the client secret are all required")
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {cc.ClientID},
		"client_secret": {cc.ClientSecret.Reveal()},
	}
	if len(cc.Scopes) > 0 {
		form.Set("scope", strings.Join(cc.Scopes, " "))
	}
	resp, err := c.do(ctx, Request{
		Method: http.MethodPost,
		URL:    cc.TokenURL,
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
		Body:   []byte(form.Encode()),
	}, nil)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			// Keep the OAuth2 error code, drop the rest of the body.
			var tr tokenResponse
			if json.Unmarshal([]byte(se.Body), &tr) == nil && tr.Error != "" {
				se.Body = "error " + scrub(tr.Error, cc.Secrets())
			}
		}
		return Secret{}, 0, fmt.Errorf("oauth2 token: %w", err)
	}
	var tr tokenResponse
	if err := json.Unmarshal(resp.Body, &tr); err != nil {
		return Secret{}, 0, fmt.Errorf("oauth2 token from %s: response is not JSON", redactURL(cc.TokenURL))
	}
	if tr.AccessToken == "" {
		return Secret{}, 0, fmt.Errorf("oauth2 token from %s: no access_token in the response", redactURL(cc.TokenURL))
	}
	if tt := strings.ToLower(tr.TokenType); tt != "" && tt != "bearer" {
		return Secret{}, 0, fmt.Errorf("oauth2 token from %s: token_type %q, want bearer", redactURL(cc.TokenURL), scrub(tr.TokenType, cc.Secrets()))
	}
	life := defaultTokenLife
	if tr.ExpiresIn != "" {
		n, err := tr.ExpiresIn.Int64()
		if err != nil || n <= 0 {
			return Secret{}, 0, fmt.Errorf("oauth2 token from %s: expires_in %q is not a positive number of seconds", redactURL(cc.TokenURL), tr.ExpiresIn)
		}
		life = time.Duration(min(n, 365*24*3600)) * time.Second
	}
	return NewSecret(tr.AccessToken), life, nil
}

// authError marks a failure to obtain credentials: Do returns it as is,
// since the token request retried on its own.
type authError struct{ err error }

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }
