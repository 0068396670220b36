package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source/httpclient"
)

// DefaultMaxPushBytes bounds a pushed body unless configured: Alertmanager
// and Falcosidekick send one group or one alert per request, and the
// kube-apiserver's audit webhook batches at most 400 events by default
// (--audit-webhook-batch-max-size), far below this.
const DefaultMaxPushBytes = 10 << 20

// ReceiverOptions configure a push receiver.
type ReceiverOptions struct {
	// Ref names the configured source.
	Ref signal.SourceRef
	// Secret is the shared secret senders present as
	// "Authorization: Bearer <secret>" (Falcosidekick's
	// webhook.customheaders, Alertmanager's http_config.authorization, the
	// audit webhook kubeconfig's user token). Required.
	Secret httpclient.Secret
	// MaxBodyBytes bounds a request body (413 beyond it); zero is
	// DefaultMaxPushBytes.
	MaxBodyBytes int64
	// ContentTypes are the accepted media types; none accepts
	// application/json only.
	ContentTypes []string
	// Deliver receives every batch with at least one record. An error
	// answers 503 so that the sender tries again.
	Deliver func(ctx context.Context, b *Batch) error
	// Logger receives refused requests; nil discards.
	Logger *slog.Logger
	// Now returns the current time; nil is time.Now.
	Now func() time.Time
}

// Receiver is an http.Handler that takes pushed telemetry of one type:
// POST only (405), the shared secret (401, compared in constant time),
// the content type (415), the body size (413); the body is read like a
// file of the type (an alert, a webhook body, an EventList) and handed to
// Deliver as one Batch. The answer is JSON: {"records", "signals",
// "rejected", "rejects"}. A body of which no record could be used is a 400.
type Receiver struct {
	spec  Spec
	opts  ReceiverOptions
	types []string
	want  [sha256.Size]byte
	log   *slog.Logger
}

// NewReceiver returns a receiver for spec.
func NewReceiver(spec Spec, opts ReceiverOptions) (*Receiver, error) {
	if spec.New == nil {
		return nil, fmt.Errorf("receiver: type %q has no parser", spec.Type)
	}
	if opts.Secret.IsZero() {
		return nil, fmt.Errorf("receiver for %q: a shared secret is required", spec.Type)
	}
	if opts.Deliver == nil {
		return nil, fmt.Errorf("receiver for %q: no Deliver callback", spec.Type)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxPushBytes
	}
	if opts.Ref.Type == "" {
		opts.Ref.Type = spec.Type
	}
	if opts.Ref.Name == "" {
		opts.Ref.Name = spec.Type
	}
	types := opts.ContentTypes
	if len(types) == 0 {
		types = []string{"application/json"}
	}
	r := &Receiver{spec: spec, opts: opts, types: types, want: sha256.Sum256([]byte(opts.Secret.Reveal())), log: opts.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

type pushReply struct {
	Records  int      `json:"records"`
	Signals  int      `json:"signals"`
	Rejected int      `json:"rejected"`
	Rejects  []string `json:"rejects,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// maxReplyRejects bounds the reject reasons a reply lists.
const maxReplyRejects = 10

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.fail(w, req, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if !r.authorized(req) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pulsegate"`)
		r.fail(w, req, http.StatusUnauthorized, "missing or wrong shared secret (Authorization: Bearer ...)")
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || !contains(r.types, mt) {
		r.fail(w, req, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q not accepted (want %s)", req.Header.Get("Content-Type"), strings.Join(r.types, " or ")))
		return
	}
	if req.ContentLength > r.opts.MaxBodyBytes {
		r.fail(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", r.opts.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.fail(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", r.opts.MaxBodyBytes))
			return
		}
		r.fail(w, req, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		r.fail(w, req, http.StatusBadRequest, "empty body")
		return
	}
	b, err := Read(bytes.NewReader(body), "push:"+req.URL.Path, r.spec, r.opts.Ref, nil)
	if err != nil {
		r.fail(w, req, http.StatusBadRequest, err.Error())
		return
	}
	now := time.Now
	if r.opts.Now != nil {
		now = r.opts.Now
	}
	b.Written = now().UTC() // receiving is evidence that the sender is alive
	reply := pushReply{Records: b.Records, Signals: len(b.Signals), Rejected: b.Rejected}
	for _, x := range b.Rejects {
		if len(reply.Rejects) == maxReplyRejects {
			break
		}
		reply.Rejects = append(reply.Rejects, fmt.Sprintf("record at line %d: %s", x.Line, x.Reason))
	}
	if b.Records == 0 || len(b.Signals) == 0 {
		reply.Error = "no usable record in the body"
		r.log.Warn("push refused", "source", r.opts.Ref.Name, "remote", req.RemoteAddr, "status", http.StatusBadRequest, "rejected", b.Rejected)
		writeJSON(w, http.StatusBadRequest, reply)
		return
	}
	if err := r.opts.Deliver(req.Context(), b); err != nil {
		reply.Error = "not stored, try again: " + err.Error()
		r.log.Error("push not delivered", "source", r.opts.Ref.Name, "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, reply)
		return
	}
	writeJSON(w, http.StatusOK, reply)
}

func (r *Receiver) authorized(req *http.Request) bool {
	h := req.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	// Hashing first makes the comparison constant-time in the length too.
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	return subtle.ConstantTimeCompare(got[:], r.want[:]) == 1
}

func (r *Receiver) fail(w http.ResponseWriter, req *http.Request, status int, msg string) {
	r.log.Warn("push refused", "source", r.opts.Ref.Name, "remote", req.RemoteAddr, "status", status, "reason", msg)
	writeJSON(w, status, pushReply{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
