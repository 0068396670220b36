package k8saudit

import (
	"bytes"

	"github.com/pulsegate/pulsegate/pkg/source"
)

// The fast path decodes an event in one pass with scanner into the same
// event value that encoding/json would produce, or gives up and leaves the
// record to encoding/json (decodeEvent). The event's strings are copied
// into one new string per record, not one each.

// Strings of an event, by index into fastEvent.str.
const (
	sAPIVersion = iota
	sLevel
	sAuditID
	sStage
	sRequestURI
	sVerb
	sUserAgent
	sRequestReceived
	sStageTimestamp
	sTimestamp
	sUsername
	sImpersonated
	sResource
	sNamespace
	sName
	sAPIGroup
	sSubresource
	sReason
	sDecision
	nStrings
)

// span is a string's contents in the record; esc means it needs unquoting.
type span struct {
	start, end int
	esc        bool
}

// fastEvent holds what the scan found, before the strings are copied.
type fastEvent struct {
	str                       [nStrings]span
	kind, reqObj, respObj     []byte
	groups, ips               []span // reused
	hasUser, hasImpersonated  bool
	hasRef, hasStatus, hasIPs bool
	hasGroups, hasAnnotations bool
	code                      int
	groupsBuf, ipsBuf         []string // reused
	groupEnds, ipEnds         []int    // reused
	buf                       []byte   // reused
	// reqO and respO are the request and response objects when they were
	// decoded on the way (see object).
	reqO, respO *object
	pool        pool
	// Storage for the event's pointers: an event lives only during Parse.
	ref objectRef
	st  status
	imp userInfo
}

var eventKeys = []string{"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
	"impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestObject",
	"responseObject", "requestReceivedTimestamp", "stageTimestamp", "timestamp", "annotations"}

// decodeFast fills e from data and reports whether it could; when it could
// not, e is to be decoded with encoding/json.
func (f *fastEvent) decode(data []byte, e *event, arena *source.StringArena) bool {
	f.str = [nStrings]span{}
	f.kind, f.reqObj, f.respObj, f.reqO, f.respO = nil, nil, nil, nil, nil
	if cap(f.groups)+cap(f.ips) > 1024 { // not a huge record's
		f.groups, f.ips, f.groupEnds, f.ipEnds, f.groupsBuf, f.ipsBuf = nil, nil, nil, nil, nil, nil
	}
	f.groups, f.ips = f.groups[:0], f.ips[:0]
	f.hasUser, f.hasImpersonated, f.hasRef, f.hasStatus, f.hasIPs, f.hasGroups, f.hasAnnotations = false, false, false, false, false, false, false
	f.code = 0

	f.pool.n, f.pool.m = 0, 0
	s := scanner{b: data}
	s.ws()
	if s.peek() != '{' || !s.open() {
		return false
	}
	var seen uint32
	for n := 0; ; n++ {
		key, ok := s.member(n)
		if !ok {
			break
		}
		if s.keyEsc {
			return false
		}
		bit := uint32(0)
		switch string(key) {
		case "kind":
			bit = 1 << 0
			start := s.i
			if !s.skip() {
				return false
			}
			f.kind = data[start:s.i]
		case "apiVersion":
			bit = 1 << 1
			f.text(&s, sAPIVersion)
		case "level":
			bit = 1 << 2
			f.text(&s, sLevel)
		case "auditID":
			bit = 1 << 3
			f.text(&s, sAuditID)
		case "stage":
			bit = 1 << 4
			f.text(&s, sStage)
		case "requestURI":
			bit = 1 << 5
			f.text(&s, sRequestURI)
		case "verb":
			bit = 1 << 6
			f.text(&s, sVerb)
		case "user":
			bit = 1 << 7
			f.hasUser = true
			f.user(&s, sUsername, true)
		case "impersonatedUser":
			bit = 1 << 8
			f.hasImpersonated = !s.null() && f.user(&s, sImpersonated, false)
		case "sourceIPs":
			bit = 1 << 9
			f.hasIPs = f.list(&s, &f.ips)
		case "userAgent":
			bit = 1 << 10
			f.text(&s, sUserAgent)
		case "objectRef":
			bit = 1 << 11
			f.hasRef = !s.null() && f.objectRef(&s)
		case "responseStatus":
			bit = 1 << 12
			f.hasStatus = !s.null() && f.status(&s)
		case "requestObject":
			bit = 1 << 13
			start := s.i
			f.reqO = f.object(&s, data, arena)
			if s.err {
				return false
			}
			f.reqObj = data[start:s.i]
		case "responseObject":
			bit = 1 << 14
			start := s.i
			f.respO = f.object(&s, data, arena)
			if s.err {
				return false
			}
			f.respObj = data[start:s.i]
		case "requestReceivedTimestamp":
			bit = 1 << 15
			f.text(&s, sRequestReceived)
		case "stageTimestamp":
			bit = 1 << 16
			f.text(&s, sStageTimestamp)
		case "timestamp":
			bit = 1 << 17
			f.text(&s, sTimestamp)
		case "annotations":
			bit = 1 << 18
			f.hasAnnotations = !s.null() && f.annotations(&s)
		default:
			if foldsTo(key, eventKeys...) {
				return false
			}
			s.skip()
		}
		if s.err || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	s.close()
	if !s.end() {
		return false
	}
	f.fill(data, e, arena)
	return true
}

// object skips the object value at s.i, or decodes it on the way when the
// verb and the objectRef, read before it, say that Parse will ask for it
// (see setAsset and classify): then it returns it. Decoding fails as the
// object (and so the record) would in objects.request; skipping does not.
func (f *fastEvent) object(s *scanner, data []byte, arena *source.StringArena) *object {
	if resource, ok := f.wants(data); ok && s.peek() == '{' {
		sub := *s
		sub.arena, sub.pool = arena, &f.pool
		if o := sub.object(resource); !sub.err {
			s.i = sub.i
			return o
		}
	}
	s.skip()
	return nil
}

// wants reports whether Parse will likely decode the objects of the event
// read so far, and the resource whose pod spec it will ask for. A verb not
// read yet (keys in alphabetical order put it last) counts as a write: an
// object decoded for nothing costs little more than skipping it.
func (f *fastEvent) wants(data []byte) (resource string, ok bool) {
	verb, res, sub := f.str[sVerb], f.str[sResource], f.str[sSubresource]
	if !f.hasRef || verb.esc || res.esc || sub.esc {
		return "", false
	}
	v := string(data[verb.start:verb.end])
	if v != "" && !isWrite(v) {
		return "", false
	}
	r := string(data[res.start:res.end])
	switch r {
	case "clusterroles", "roles", "clusterrolebindings", "rolebindings":
		return "", sub.end == sub.start && v != "delete" && v != "deletecollection"
	case "pods":
		if sub.end == sub.start {
			return "pods", true
		}
		return "", string(data[sub.start:sub.end]) == "binding"
	}
	for _, w := range workloadResources {
		if w == r && sub.end == sub.start {
			return w, true
		}
	}
	return "", false
}

// workloadResources are the keys of workloadKinds.
var workloadResources = []string{"deployments", "statefulsets", "daemonsets", "replicasets", "replicationcontrollers", "jobs", "cronjobs"}

// text reads a string or null into f.str[i].
func (f *fastEvent) text(s *scanner, i int) {
	switch s.peek() {
	case '"':
		start, end, esc := s.str()
		f.str[i] = span{start, end, esc}
	case 'n':
		s.lit("null")
	default:
		s.fail()
	}
}

// list reads an array of strings (null elements are "") or null, and
// reports whether it was an array.
func (f *fastEvent) list(s *scanner, out *[]span) bool {
	if s.null() {
		return false
	}
	if s.peek() != '[' || !s.open() {
		return s.fail()
	}
	for n := 0; s.elem(n); n++ {
		switch s.peek() {
		case '"':
			start, end, esc := s.str()
			*out = append(*out, span{start, end, esc})
		case 'n':
			s.lit("null")
			*out = append(*out, span{})
		default:
			return s.fail()
		}
	}
	s.close()
	return !s.err
}

var userKeys = []string{"username", "groups"}

// user reads a userInfo object (or null, when nullOK).
func (f *fastEvent) user(s *scanner, name int, nullOK bool) bool {
	if nullOK && s.null() {
		return true
	}
	if s.peek() != '{' || !s.open() {
		return s.fail()
	}
	var seen uint8
	for n := 0; ; n++ {
		key, ok := s.member(n)
		if !ok {
			break
		}
		if s.keyEsc {
			return s.fail()
		}
		var bit uint8
		switch string(key) {
		case "username":
			bit = 1
			f.text(s, name)
		case "groups":
			bit = 2
			if name == sUsername {
				f.hasGroups = f.list(s, &f.groups)
			} else {
				var discard []span
				f.list(s, &discard)
			}
		default:
			if foldsTo(key, userKeys...) {
				return s.fail()
			}
			s.skip()
		}
		if s.err || seen&bit != 0 {
			return s.fail()
		}
		seen |= bit
	}
	s.close()
	return !s.err
}

var refKeys = []string{"resource", "namespace", "name", "apiGroup", "subresource"}

func (f *fastEvent) objectRef(s *scanner) bool {
	if s.peek() != '{' || !s.open() {
		return s.fail()
	}
	var seen uint8
	for n := 0; ; n++ {
		key, ok := s.member(n)
		if !ok {
			break
		}
		if s.keyEsc {
			return s.fail()
		}
		var bit uint8
		switch string(key) {
		case "resource":
			bit = 1
			f.text(s, sResource)
		case "namespace":
			bit = 2
			f.text(s, sNamespace)
		case "name":
			bit = 4
			f.text(s, sName)
		case "apiGroup":
			bit = 8
			f.text(s, sAPIGroup)
		case "subresource":
			bit = 16
			f.text(s, sSubresource)
		default:
			if foldsTo(key, refKeys...) {
				return s.fail()
			}
			s.skip()
		}
		if s.err || seen&bit != 0 {
			return s.fail()
		}
		seen |= bit
	}
	s.close()
	return !s.err
}

var statusKeys = []string{"code", "reason"}

func (f *fastEvent) status(s *scanner) bool {
	if s.peek() != '{' || !s.open() {
		return s.fail()
	}
	var seen uint8
	for n := 0; ; n++ {
		key, ok := s.member(n)
		if !ok {
			break
		}
		if s.keyEsc {
			return s.fail()
		}
		var bit uint8
		switch string(key) {
		case "code":
			bit = 1
			if s.null() {
				break
			}
			start := s.i
			if s.peek() == '"' || !s.num() {
				return s.fail()
			}
			if s.i-start > 18 {
				return s.fail() // may not fit an int: encoding/json decides
			}
			neg, v := false, 0
			for _, c := range s.b[start:s.i] {
				if c == '-' {
					neg = true
					continue
				}
				v = v*10 + int(c-'0')
			}
			if neg {
				v = -v
			}
			f.code = v
		case "reason":
			bit = 2
			f.text(s, sReason)
		default:
			if foldsTo(key, statusKeys...) {
				return s.fail()
			}
			s.skip()
		}
		if s.err || seen&bit != 0 {
			return s.fail()
		}
		seen |= bit
	}
	s.close()
	return !s.err
}

// annotations reads a map of strings, keeping the authorization decision.
func (f *fastEvent) annotations(s *scanner) bool {
	if s.peek() != '{' || !s.open() {
		return s.fail()
	}
	for n := 0; ; n++ {
		key, ok := s.member(n)
		if !ok {
			break
		}
		if s.keyEsc && bytes.IndexByte(key, '\\') >= 0 {
			return s.fail()
		}
		if string(key) == "authorization.k8s.io/decision" {
			f.str[sDecision] = span{}
			f.text(s, sDecision)
			continue
		}
		switch s.peek() {
		case '"':
			s.str()
		case 'n':
			s.lit("null")
		default:
			return s.fail()
		}
	}
	s.close()
	return !s.err
}

// fill copies the strings into one new string and sets e's fields.
func (f *fastEvent) fill(data []byte, e *event, arena *source.StringArena) {
	buf := f.buf[:0]
	var offs [nStrings]int // ends; string i is buf[offs[i-1]:offs[i]]
	put := func(buf []byte, sp span) []byte {
		if sp.esc {
			return appendUnquoted(buf, data[sp.start:sp.end])
		}
		return append(buf, data[sp.start:sp.end]...)
	}
	for i, sp := range f.str {
		buf = put(buf, sp)
		offs[i] = len(buf)
	}
	f.groupEnds, f.ipEnds = f.groupEnds[:0], f.ipEnds[:0]
	for _, sp := range f.groups {
		buf = put(buf, sp)
		f.groupEnds = append(f.groupEnds, len(buf))
	}
	for _, sp := range f.ips {
		buf = put(buf, sp)
		f.ipEnds = append(f.ipEnds, len(buf))
	}
	all := arena.String(buf)
	if cap(buf) <= 64<<10 { // keep a small scratch buffer, not a huge record's
		f.buf = buf
	} else {
		f.buf = nil
	}
	str := func(i int) string {
		start := 0
		if i > 0 {
			start = offs[i-1]
		}
		return all[start:offs[i]]
	}

	if len(f.kind) > 0 {
		e.Kind = f.kind
	}
	e.APIVersion = str(sAPIVersion)
	e.Level = str(sLevel)
	e.AuditID = str(sAuditID)
	e.Stage = str(sStage)
	e.RequestURI = str(sRequestURI)
	e.Verb = str(sVerb)
	e.UserAgent = str(sUserAgent)
	e.RequestReceivedTimestamp = str(sRequestReceived)
	e.StageTimestamp = str(sStageTimestamp)
	e.Timestamp = str(sTimestamp)
	e.User.Username = str(sUsername)
	start := offs[nStrings-1]
	if f.hasGroups {
		g := f.groupsBuf[:0]
		if g == nil {
			g = make([]string, 0, 4)
		}
		for _, end := range f.groupEnds {
			g = append(g, all[start:end])
			start = end
		}
		f.groupsBuf = g
		e.User.Groups = g
	}
	if f.hasIPs {
		ips := f.ipsBuf[:0]
		if ips == nil {
			ips = make([]string, 0, 2)
		}
		for _, end := range f.ipEnds {
			ips = append(ips, all[start:end])
			start = end
		}
		f.ipsBuf = ips
		e.SourceIPs = ips
	}
	if f.hasImpersonated {
		f.imp = userInfo{Username: str(sImpersonated)}
		e.ImpersonatedUser = &f.imp
	}
	if f.hasRef {
		f.ref = objectRef{
			Resource:    str(sResource),
			Namespace:   str(sNamespace),
			Name:        str(sName),
			APIGroup:    str(sAPIGroup),
			Subresource: str(sSubresource),
		}
		e.ObjectRef = &f.ref
	}
	if f.hasStatus {
		f.st = status{Code: f.code, Reason: str(sReason)}
		e.ResponseStatus = &f.st
	}
	if f.reqObj != nil {
		e.RequestObject = f.reqObj
	}
	if f.respObj != nil {
		e.ResponseObject = f.respObj
	}
	e.decision = str(sDecision)
}

var (
	objectKeys   = []string{"kind", "metadata", "spec", "roleRef", "rules", "target"}
	metadataKeys = []string{"name", "namespace", "ownerReferences"}
	ownerKeys    = []string{"kind", "name", "controller"}
	kindNameKeys = []string{"kind", "name"}
	ruleKeys     = []string{"verbs", "resources"}
	nameKeys     = []string{"name"}

	// Values compared but not kept, returned without allocating.
	roleWords = []string{"ClusterRole", "Role", "cluster-admin", "admin", "edit", "view"}
	ruleWords = []string{"*", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
		"pods", "secrets", "configmaps", "services", "deployments", "nodes", "namespaces", "events"}
)

// decodeObjectFast decodes raw as decodeObject does with encoding/json, or
// reports that it could not. raw is valid JSON: a part of a record that
// was checked whole. When resource is set, the pod spec for it is decoded
// on the way (as object.podSpec(resource) would), rather than on a second
// pass over the spec.
func decodeObjectFast(raw []byte, arena *source.StringArena, resource string) (*object, bool) {
	s := scanner{b: raw, valid: true, arena: arena}
	if s.peek() != '{' {
		return nil, false
	}
	o := s.object(resource)
	if !s.end() {
		return nil, false
	}
	return o, true
}

// object reads the object at s.i as decodeObjectFast does.
func (s *scanner) object(resource string) *object {
	o := s.pool.object()
	o.arena = s.arena
	s.fields(objectKeys, func(i int) {
		switch i {
		case 0:
			s.check() // nothing reads an object's kind
		case 1:
			s.fields(metadataKeys, func(i int) {
				switch i {
				case 0:
					o.Metadata.Name = s.text()
				case 1:
					o.Metadata.Namespace = s.text()
				case 2:
					s.array(func() {
						var r ownerRef
						s.fields(ownerKeys, func(i int) {
							switch i {
							case 0:
								r.Kind = s.text()
							case 1:
								r.Name = s.text()
							case 2:
								if v, ok := s.boolean(); ok {
									r.Controller = &v
								}
							}
						})
						o.Metadata.OwnerReferences = append(o.Metadata.OwnerReferences, r)
					})
				}
			})
		case 2:
			start := s.i
			if resource != "" && s.peek() == '{' {
				sub := *s
				if ps := sub.podSpecOf(resource); !sub.err {
					s.i = sub.i
					o.ps, o.psResource, o.psDone = ps, resource, true
				} else {
					s.skip() // left to object.podSpec and encoding/json
				}
			} else {
				s.skip()
			}
			o.Spec = s.b[start:s.i]
		case 3:
			s.fields(kindNameKeys, func(i int) {
				if i == 0 {
					o.RoleRef.Kind = s.word(roleWords)
				} else {
					o.RoleRef.Name = s.word(roleWords)
				}
			})
		case 4:
			s.array(func() {
				var r policyRule
				s.fields(ruleKeys, func(i int) {
					if i == 0 {
						r.Verbs = s.words(ruleWords)
					} else {
						r.Resources = s.words(ruleWords)
					}
				})
				o.Rules = append(o.Rules, r)
			})
		case 5:
			s.fields(nameKeys, func(int) { o.Target.Name = s.text() })
		}
	})
	return o
}

var (
	podSpecKeys   = []string{"nodeName", "hostNetwork", "hostPID", "hostIPC", "containers", "initContainers", "ephemeralContainers", "volumes"}
	containerKeys = []string{"name", "image", "securityContext"}
	secCtxKeys    = []string{"privileged", "capabilities"}
	capKeys       = []string{"add"}
	volumeKeys    = []string{"name", "hostPath"}
	pathKeys      = []string{"path"}
	templateKeys  = []string{"template"}
	specKeys      = []string{"spec"}
	jobKeys       = []string{"jobTemplate"}
)

// podSpecFast decodes the pod spec in spec as object.podSpec does with
// encoding/json, or reports that it could not. spec is valid JSON.
func podSpecFast(spec []byte, resource string, arena *source.StringArena) (*podSpec, bool) {
	s := scanner{b: spec, valid: true, arena: arena}
	ps := s.podSpecOf(resource)
	if !s.end() {
		return nil, false
	}
	return ps, true
}

// podSpecOf reads the pod spec inside the spec at s.i of a resource (see
// object.podSpec).
func (s *scanner) podSpecOf(resource string) *podSpec {
	ps := s.pool.podSpec()
	switch resource {
	case "pods":
		s.podSpec(ps)
	case "cronjobs":
		s.fields(jobKeys, func(int) {
			s.fields(specKeys, func(int) {
				s.fields(templateKeys, func(int) {
					s.fields(specKeys, func(int) { s.podSpec(ps) })
				})
			})
		})
	default:
		s.fields(templateKeys, func(int) {
			s.fields(specKeys, func(int) { s.podSpec(ps) })
		})
	}
	return ps
}

func (s *scanner) podSpec(ps *podSpec) {
	s.fields(podSpecKeys, func(i int) {
		switch i {
		case 0:
			ps.NodeName = s.text()
		case 1:
			ps.HostNetwork = s.flag()
		case 2:
			ps.HostPID = s.flag()
		case 3:
			ps.HostIPC = s.flag()
		case 4:
			ps.Containers = s.containers()
		case 5:
			ps.InitContainers = s.containers()
		case 6:
			ps.EphemeralContainers = s.containers()
		case 7:
			s.array(func() {
				var v struct {
					Name     string `json:"name"`
					HostPath *struct {
						Path string `json:"path"`
					} `json:"hostPath"`
				}
				s.fields(volumeKeys, func(i int) {
					if i == 0 {
						s.check() // nothing reads a volume's name
						return
					}
					if s.null() {
						v.HostPath = nil
						return
					}
					v.HostPath = &struct {
						Path string `json:"path"`
					}{}
					s.fields(pathKeys, func(int) { v.HostPath.Path = s.text() })
				})
				if ps.Volumes == nil {
					ps.Volumes = make([]volume, 0, 4)
				}
				ps.Volumes = append(ps.Volumes, v)
			})
		}
	})
}

// flag reads a boolean (null is false).
func (s *scanner) flag() bool {
	v, _ := s.boolean()
	return v
}

func (s *scanner) containers() []container {
	var out []container
	s.array(func() {
		var c container
		s.fields(containerKeys, func(i int) {
			switch i {
			case 0:
				c.Name = s.text()
			case 1:
				c.Image = s.text()
			case 2:
				if s.null() {
					return
				}
				c.SecurityContext = &struct {
					Privileged   *bool `json:"privileged"`
					Capabilities *struct {
						Add []string `json:"add"`
					} `json:"capabilities"`
				}{}
				sc := c.SecurityContext
				s.fields(secCtxKeys, func(i int) {
					if i == 0 {
						if v, ok := s.boolean(); ok {
							sc.Privileged = &v
						}
						return
					}
					if s.null() {
						return
					}
					sc.Capabilities = &struct {
						Add []string `json:"add"`
					}{}
					s.fields(capKeys, func(int) { sc.Capabilities.Add = s.texts() })
				})
			}
		})
		if out == nil {
			out = make([]container, 0, 2)
		}
		out = append(out, c)
	})
	return out
}

// pool holds the objects and pod specs decoded for one record: they live
// only while Parse runs, so that the next record reuses their memory. A
// nil pool allocates.
type pool struct {
	objects [2]object
	specs   [2]podSpec
	n, m    int // used
}

func (p *pool) object() *object {
	if p == nil || p.n == len(p.objects) {
		return new(object)
	}
	o := &p.objects[p.n]
	p.n++
	*o = object{}
	return o
}

func (p *pool) podSpec() *podSpec {
	if p == nil || p.m == len(p.specs) {
		return new(podSpec)
	}
	ps := &p.specs[p.m]
	p.m++
	*ps = podSpec{}
	return ps
}
