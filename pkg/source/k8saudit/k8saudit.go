// Package k8saudit reads Kubernetes API server audit events (audit.k8s.io
// Event): the log backend's JSON lines, and the webhook backend's EventList
// bodies (split by the record reader's generic List unwrapping). It accepts
// audit.k8s.io/v1, v1beta1, v1alpha1 and legacy events without apiVersion.
// Every event becomes one OCSF API Activity (6003) Signal.
//
// Field mapping (docs/sources.md has the full table):
//
//	stageTimestamp                -> Signal.Time (microseconds kept); else
//	                                 requestReceivedTimestamp; else timestamp (legacy)
//	auditID                       -> Signal.Raw.ID (shared by a request's stages)
//	objectRef.namespace           -> Asset.Namespace (objectRef.name for namespaces)
//	objectRef.resource, .name     -> pods: Asset.Pod; nodes: Asset.Node; workloads
//	                                 (deployments, ...): Asset.WorkloadKind, Workload;
//	                                 and Asset.Resource "resource/name" for all but pods
//	                                 and nodes
//	objectRef.subresource         -> attr subresource (pods/exec, attach, portforward)
//	request/responseObject        -> pod create: metadata.name -> Asset.Pod,
//	                                 spec.nodeName -> Asset.Node, the first
//	                                 spec.containers[].image -> Asset.Image (all in
//	                                 attr images; a "@sha256:" digest in it ->
//	                                 Asset.ImageDigest), ownerReferences controller ->
//	                                 Asset.WorkloadKind, Workload; pods/binding:
//	                                 target.name -> Asset.Node
//	user.username                 -> attr user; system:node:<n> (a kubelet) ->
//	                                 Asset.Node when the object names no node
//	verb, stage, level, code      -> attrs verb, stage, level, code
//
// The event carries no cluster name: it comes from the configured source.
//
// Audit events have no severity (level is the audit verbosity), so this
// package assigns one with a deliberately small, conservative table. The
// highest matching row wins; "system" users are the control plane's own
// identities (system:node:*, system:kube-*, kube-system service accounts,
// eks:*), never system:anonymous or service accounts of other namespaces;
// "allowed" means neither a forbid decision nor a 4xx/5xx response.
//
//	exec, attach or portforward into a pod by a non-system user, allowed   High   "k8s-audit: exec into pod" (attach to pod, port-forward to pod)
//	the same by a system user, or not allowed                              Medium
//	pod or workload template with a privileged container, an added
//	SYS_ADMIN/ALL capability, hostNetwork, hostPID, hostIPC or a sensitive
//	hostPath, written by a non-system user, allowed                        High   "k8s-audit: privileged pod created"
//	the same written by a controller (system user), or not allowed        Medium
//	(cluster)rolebinding to cluster-admin, non-system user, allowed        High   "k8s-audit: binding to cluster-admin"
//	the same by a system user, or not allowed                              Medium
//	(cluster)role granting verb "*" on resource "*", non-system, allowed    High   "k8s-audit: wildcard role written"
//	(cluster)role granting verb "*" or resource "*" otherwise              Medium
//	anonymous request allowed (system:anonymous, system:unauthenticated)  Medium "k8s-audit: anonymous request allowed"
//	anonymous request not allowed                                         Low    "k8s-audit: anonymous request denied"
//	secret access denied (forbid, 401 or 403)                              Medium "k8s-audit: secret access denied"
//	any other request denied                                               Low    "k8s-audit: request denied"
//	secret read (get, list, watch) by a non-system user                    Low    "k8s-audit: secret read"
//	other writes by a non-system user                                      Low    "k8s-audit: write"
//	writes by system users                                                 Informational "k8s-audit: write"
//	reads, and requests to non-resource URLs                               Informational "k8s-audit: read"
//
// A request can be logged once per stage (RequestReceived, ResponseStarted,
// ResponseComplete, Panic); each stage is its own record and Signal, and
// they share Raw.ID (the auditID) so later stages can fold them.
//
// Decoding: a record is read in one pass (scan.go, fast.go) that checks
// all of it as encoding/json would and keeps only the fields above, its
// strings copied into shared blocks; the request or response object is
// decoded only when the verb and resource need it, its pod spec with it.
// Whatever that pass does not reproduce exactly (bad JSON, a type
// mismatch, a repeated or case-folded field name, an escaped name, deep
// nesting) is decoded with encoding/json instead, so results and reasons
// are the same either way: FuzzFastPath compares the two.
package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Type is the adapter type name.
const Type = "k8s-audit"

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    Type,
	Product: "Kubernetes",
	Summary: "Kubernetes audit events (audit.k8s.io Event JSON lines, EventList webhook bodies)",
	New:     func() source.Parser { return &Parser{} },
}

// Parser parses audit events. The zero value is ready to use; a Parser is
// not safe for concurrent use.
type Parser struct {
	e event
	f fastEvent
	// slow turns the fast path off (tests compare the two).
	slow bool
	// The strings and Signals of many records share allocations.
	arena   source.StringArena
	blocks  []signal.Signal
	scratch []byte
}

type event struct {
	Kind                     json.RawMessage   `json:"kind"`
	APIVersion               string            `json:"apiVersion"`
	Level                    string            `json:"level"`
	AuditID                  string            `json:"auditID"`
	Stage                    string            `json:"stage"`
	RequestURI               string            `json:"requestURI"`
	Verb                     string            `json:"verb"`
	User                     userInfo          `json:"user"`
	ImpersonatedUser         *userInfo         `json:"impersonatedUser"`
	SourceIPs                []string          `json:"sourceIPs"`
	UserAgent                string            `json:"userAgent"`
	ObjectRef                *objectRef        `json:"objectRef"`
	ResponseStatus           *status           `json:"responseStatus"`
	RequestObject            json.RawMessage   `json:"requestObject"`
	ResponseObject           json.RawMessage   `json:"responseObject"`
	RequestReceivedTimestamp string            `json:"requestReceivedTimestamp"`
	StageTimestamp           string            `json:"stageTimestamp"`
	Timestamp                string            `json:"timestamp"` // v1alpha1, v1beta1
	Annotations              map[string]string `json:"annotations"`

	// decision is annotations["authorization.k8s.io/decision"], which the
	// fast path reads without building the map.
	decision string
}

type userInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

type objectRef struct {
	Resource    string `json:"resource"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	APIGroup    string `json:"apiGroup"`
	Subresource string `json:"subresource"`
}

type status struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	p.e = event{}
	e := &p.e
	fast := !p.slow && p.f.decode(rec.Data, e, &p.arena)
	if !fast {
		// Anything the fast path does not reproduce exactly (bad JSON, a
		// type mismatch, a duplicate or case-folded field name) is
		// encoding/json's to decode and to explain.
		p.e = event{}
		if err := json.Unmarshal(rec.Data, e); err != nil {
			return nil, fmt.Errorf("not a Kubernetes audit event: %v", source.JSONReason(err))
		}
		e.decision = e.Annotations["authorization.k8s.io/decision"]
	}
	if err := checkKind(e); err != nil {
		return nil, err
	}
	t, err := eventTime(e)
	if err != nil {
		return nil, err
	}
	if e.Verb == "" {
		return nil, errors.New(`missing field "verb"`)
	}
	// The Signal is built in place, in the block it is returned from.
	if len(p.blocks) == 0 {
		p.blocks = make([]signal.Signal, 64)
	}
	s := &p.blocks[0]
	*s = signal.Signal{
		ID:       p.arena.MakeID(Type, rec.Data),
		Time:     t,
		Product:  Spec.Product,
		ClassUID: signal.ClassAPIActivity,
		Raw:      signal.RawRef{ID: e.AuditID},
	}
	var objs objects
	objs.req, objs.resp, objs.slow, objs.arena, objs.scratch = e.RequestObject, e.ResponseObject, p.slow, &p.arena, &p.scratch
	if r := e.ObjectRef; r != nil && r.Subresource == "" {
		if _, ok := workloadKinds[r.Resource]; ok || r.Resource == "pods" {
			objs.resource = r.Resource
		}
	}
	if fast { // objects the fast path decoded on the way
		objs.reqObj, objs.reqDone = p.f.reqO, p.f.reqO != nil
		objs.respObj, objs.respDone = p.f.respO, p.f.respO != nil
	}
	// Room for the attributes an event usually has (at most 13 from
	// setAttrs, and images, command or risks), so that the map does not
	// grow on the way: 14 fill the 16 slots of a map made for 14.
	s.Attrs = make(map[string]string, 14)
	setAsset(s, e, &objs)
	classify(s, e, &objs)
	s.Score = s.Severity.Score()
	setAttrs(s, e)
	// s alone (capacity 1, so that appending to it copies), cut from a
	// block of 64: one allocation per 64 records.
	out := p.blocks[:1:1]
	p.blocks = p.blocks[1:]
	return out, nil
}

func checkKind(e *event) error {
	switch k := bytes.TrimSpace(e.Kind); {
	case len(k) == 0 || string(k) == "null":
		// Some shippers drop kind; accept what is plainly an audit event.
		if e.AuditID == "" || e.Verb == "" {
			return errors.New(`missing field "kind" (want "Event")`)
		}
	case string(k) != `"Event"`:
		return fmt.Errorf(`field "kind" is %s, want "Event"`, clip(string(k), 64))
	}
	switch v := e.APIVersion; v {
	case "", "audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1":
		return nil
	default:
		return fmt.Errorf(`field "apiVersion": %q is not audit.k8s.io/v1, v1beta1 or v1alpha1`, clip(v, 64))
	}
}

func eventTime(e *event) (time.Time, error) {
	for _, f := range [...]struct{ name, v string }{
		{"stageTimestamp", e.StageTimestamp},
		{"requestReceivedTimestamp", e.RequestReceivedTimestamp},
		{"timestamp", e.Timestamp},
	} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.v)
		if err != nil {
			return time.Time{}, fmt.Errorf("field %q: %q is not an RFC 3339 time", f.name, clip(f.v, 64))
		}
		if t.IsZero() {
			continue
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return time.Time{}, fmt.Errorf("field %q: %q is outside the years 1 to 9999", f.name, clip(f.v, 64))
		}
		return t.UTC(), nil
	}
	return time.Time{}, errors.New(`missing field "stageTimestamp" (nor "requestReceivedTimestamp", nor "timestamp")`)
}

// workloadKinds maps workload resources to their kinds.
var workloadKinds = map[string]string{
	"deployments":            "Deployment",
	"statefulsets":           "StatefulSet",
	"daemonsets":             "DaemonSet",
	"replicasets":            "ReplicaSet",
	"replicationcontrollers": "ReplicationController",
	"jobs":                   "Job",
	"cronjobs":               "CronJob",
}

func setAsset(s *signal.Signal, e *event, objs *objects) {
	a := &s.Asset
	if r := e.ObjectRef; r != nil {
		a.Namespace = r.Namespace
		switch r.Resource {
		case "pods":
			a.Pod = r.Name
			if r.Subresource == "" && isWrite(e.Verb) {
				// On create the request has only generateName and no
				// nodeName; the response (RequestResponse level) has both.
				for _, o := range []*object{objs.object(e.Verb), objs.response()} {
					if o == nil {
						continue
					}
					if a.Pod == "" {
						a.Pod = o.Metadata.Name
					}
					if a.Namespace == "" {
						a.Namespace = o.Metadata.Namespace
					}
					if a.WorkloadKind == "" {
						if ow := o.controller(); ow != nil {
							a.WorkloadKind, a.Workload = ow.Kind, ow.Name
						}
					}
					ps := o.podSpec("pods")
					if ps == nil {
						continue
					}
					if a.Node == "" {
						a.Node = ps.NodeName
					}
					if a.Image == "" {
						if imgs := ps.images(); len(imgs) > 0 {
							a.Image = imgs[0]
							s.SetAttr("images", strings.Join(imgs, ","))
						}
					}
				}
			}
			if r.Subresource == "binding" {
				if o := objs.request(); o != nil && o.Target.Name != "" {
					a.Node = o.Target.Name
				}
			}
			if c := containerFromURI(e.RequestURI); c != "" {
				a.Container = c
			}
		case "nodes":
			a.Node = r.Name
		case "namespaces":
			if a.Namespace == "" {
				a.Namespace = r.Name
			}
		default:
			if k, ok := workloadKinds[r.Resource]; ok {
				a.WorkloadKind, a.Workload = k, r.Name
				if a.Workload == "" && isWrite(e.Verb) {
					if o := objs.object(e.Verb); o != nil {
						a.Workload = o.Metadata.Name
					}
				}
				if o := objs.object(e.Verb); o != nil && isWrite(e.Verb) {
					if ps := o.podSpec(r.Resource); ps != nil {
						if imgs := ps.images(); len(imgs) > 0 {
							a.Image = imgs[0]
							s.SetAttr("images", strings.Join(imgs, ","))
						}
					}
				}
			}
			if r.Resource != "" {
				name := r.Name
				if name == "" && a.Workload != "" {
					name = a.Workload
				}
				a.Resource = r.Resource
				if name != "" {
					a.Resource = objs.join(r.Resource, "/", name)
				}
			}
		}
	}
	if i := strings.LastIndex(a.Image, "@sha256:"); i >= 0 {
		a.ImageDigest = a.Image[i+1:]
	}
	if a.Node == "" {
		if n, ok := strings.CutPrefix(e.User.Username, "system:node:"); ok {
			a.Node = n
		}
	}
}

func setAttrs(s *signal.Signal, e *event) {
	s.SetAttr("verb", e.Verb)
	s.SetAttr("user", e.User.Username)
	if e.ImpersonatedUser != nil {
		s.SetAttr("impersonated_user", e.ImpersonatedUser.Username)
	}
	if r := e.ObjectRef; r != nil {
		s.SetAttr("resource", r.Resource)
		s.SetAttr("subresource", r.Subresource)
		s.SetAttr("api_group", r.APIGroup)
	}
	s.SetAttr("stage", e.Stage)
	s.SetAttr("level", e.Level)
	if e.ResponseStatus != nil && e.ResponseStatus.Code != 0 {
		s.SetAttr("code", strconv.Itoa(e.ResponseStatus.Code))
	}
	s.SetAttr("decision", e.decision)
	if len(e.SourceIPs) > 0 {
		s.SetAttr("source_ip", e.SourceIPs[0])
	}
	s.SetAttr("user_agent", e.UserAgent)
	s.SetAttr("request_uri", e.RequestURI)
	s.SetAttr("api_version", e.APIVersion)
}

// containerFromURI returns the container query parameter of an exec,
// attach or log request URI.
func containerFromURI(uri string) string {
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		return ""
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return ""
	}
	return v.Get("container")
}

// commandFromURI returns the command of an exec request URI, its words
// joined by spaces.
func commandFromURI(uri string) string {
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		return ""
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return ""
	}
	return strings.Join(v["command"], " ")
}

func isWrite(verb string) bool {
	switch verb {
	case "get", "list", "watch", "watchlist", "proxy":
		return false
	}
	return true
}

func isRead(verb string) bool {
	switch verb {
	case "get", "list", "watch", "watchlist":
		return true
	}
	return false
}

// isSystem reports whether user is one of the control plane's own
// identities.
func isSystem(user string) bool {
	switch {
	case user == "system:anonymous":
		return false
	case strings.HasPrefix(user, "system:serviceaccount:"):
		return strings.HasPrefix(user, "system:serviceaccount:kube-system:")
	case strings.HasPrefix(user, "system:"), strings.HasPrefix(user, "eks:"):
		return true
	}
	return false
}

func isAnonymous(u userInfo) bool {
	if u.Username == "system:anonymous" {
		return true
	}
	for _, g := range u.Groups {
		if g == "system:unauthenticated" {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// shortPath cleans a hostPath for display and comparison.
func shortPath(p string) string {
	if p == "" {
		return ""
	}
	return path.Clean("/" + p)
}
