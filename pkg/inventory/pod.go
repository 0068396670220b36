package inventory

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Pods are nearly all of a snapshot's bytes (150,000 of them in a large
// cluster's 362 MB), and most of a pod's bytes are fields that nothing here
// reads: volumes, env, probes, resources, container states, managed fields.
// podDecoder.pod reads a pod item with a small hand-written decoder that
// fills the fields below and skips the rest without decoding it.
//
// THE RULE: a pod in an Inventory read from a snapshot holds only these
// fields (the same as a full decode gives); every other field is zero.
//
//	apiVersion, kind
//	metadata: name, generateName, namespace, uid, resourceVersion, generation,
//	  creationTimestamp, deletionTimestamp, labels, annotations,
//	  ownerReferences (every field)
//	spec: nodeName, nodeSelector, serviceAccountName, hostNetwork, hostPID,
//	  hostIPC, priorityClassName, schedulerName, affinity, securityContext,
//	  tolerations (every field),
//	  containers and initContainers: name, image, ports (every field),
//	  securityContext
//	status: phase, reason, hostIP, podIP, podIPs, qosClass, startTime,
//	  conditions: type, status, reason
//	  containerStatuses and initContainerStatuses: name, image, imageID,
//	  containerID, ready, restartCount, started
//
// Code that starts reading another field of an inventory pod must add it
// here: the decoder, this list, keptPod in pod_test.go and keptFields in
// podfields_test.go. TestPodFieldsRead type-checks every package that
// imports this one and fails when it reads a field that is skipped;
// TestSlimPodAgrees and FuzzDecodePod compare the decoder with a full decode
// field by field.
//
// Parse keeps a copy of each pod's item bytes (podRaw), and WriteList
// decodes them in full to write the pod whole. Load, the gate's path, keeps
// nothing else (a third less heap); WriteList refuses such an inventory.
//
// Skipped values are checked for JSON syntax only (a volume of the wrong
// type loads; the generic path would refuse it). In kept fields, anything
// unusual (a key spelled in another case, a repeated key, a wrong type, an
// escaped key) makes the whole List fall back to the generic path, which
// reports errors with file, line and field.

// maxDepth bounds the nesting of skipped values (encoding/json's limit).
const maxDepth = 10000

// errDecode aborts the fast path; parseFast's recover turns it into
// errFallback.
type errDecode struct{}

// podDecoder reads JSON from b at i.
type podDecoder struct {
	b      []byte
	i      int
	intern map[string]string
	depth  int                // of nested values in skip
	it     *jsoniter.Iterator // for typed

	cache       [1024]string
	lastTimeTok string
	lastTime    metav1.Time

	// Scratch slices: elements are collected here and copied into a slice
	// of the exact length.
	owners   []metav1.OwnerReference
	tols     []corev1.Toleration
	ctrs     []corev1.Container
	portBuf  []corev1.ContainerPort
	conds    []corev1.PodCondition
	statuses []corev1.ContainerStatus

	pods       slab[corev1.Pod]
	ownerSlab  slab[metav1.OwnerReference]
	tolSlab    slab[corev1.Toleration]
	ctrSlab    slab[corev1.Container]
	portSlab   slab[corev1.ContainerPort]
	condSlab   slab[corev1.PodCondition]
	statusSlab slab[corev1.ContainerStatus]
}

// slab hands out values and exact-length slices from shared blocks: far
// fewer allocations than one per pod and per list (a loaded inventory's
// pods live and die together). Slices are capped at their length, so an
// append never writes into a neighbour.
type slab[T any] struct{ buf []T }

// room makes room for n more values: blocks start small (a snapshot of a
// few pods costs little) and double up to 256 values.
func (s *slab[T]) room(n int) {
	if n > cap(s.buf)-len(s.buf) {
		s.buf = make([]T, 0, max(min(256, 2*cap(s.buf)), 8, n))
	}
}

// new returns a pointer to a zero T.
func (s *slab[T]) new() *T {
	s.room(1)
	s.buf = s.buf[:len(s.buf)+1]
	return &s.buf[len(s.buf)-1]
}

// exact returns a copy of scratch (an empty, non-nil slice for none).
func (s *slab[T]) exact(scratch []T) []T {
	if len(scratch) == 0 {
		return []T{}
	}
	s.room(len(scratch))
	start := len(s.buf)
	s.buf = append(s.buf, scratch...)
	return s.buf[start:len(s.buf):len(s.buf)]
}

func (d *podDecoder) fail() { panic(errDecode{}) }

func (d *podDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

// null consumes a null literal if one comes next.
func (d *podDecoder) null() bool {
	d.ws()
	if d.i+4 <= len(d.b) && d.b[d.i] == 'n' {
		if string(d.b[d.i:d.i+4]) != "null" {
			d.fail()
		}
		d.i += 4
		return true
	}
	return false
}

// open starts an object or array (c is '{' or '['); it reports false for
// null.
func (d *podDecoder) open(c byte) bool {
	if d.null() {
		return false
	}
	if d.i >= len(d.b) || d.b[d.i] != c {
		d.fail()
	}
	d.i++
	return true
}

// more moves to the next member or element, or past the closing bracket.
func (d *podDecoder) more(end byte, first *bool) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == end {
		d.i++
		return false
	}
	if !*first {
		if d.i >= len(d.b) || d.b[d.i] != ',' {
			d.fail()
		}
		d.i++
		d.ws()
	}
	*first = false
	return true
}

// key reads a member's key and its colon; keys with escapes are refused.
func (d *podDecoder) key() []byte {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		d.fail()
	}
	start := d.i + 1
	j := bytes.IndexByte(d.b[start:], '"')
	if j < 0 {
		d.fail()
	}
	k := d.b[start : start+j]
	if bytes.IndexByte(k, '\\') >= 0 {
		d.fail()
	}
	d.i = start + j + 1
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		d.fail()
	}
	d.i++
	d.ws()
	return k
}

// unknown skips the value of a key the decoder does not keep. A key that
// differs from a kept one only in case would be decoded by encoding/json
// (which matches keys case-insensitively), so it makes the fast path give
// up, as does any non-ASCII key.
func (d *podDecoder) unknown(k []byte, kept []string) {
	for _, c := range k {
		if c >= utf8.RuneSelf {
			d.fail()
		}
	}
	for _, s := range kept {
		if len(s) == len(k) && foldEqual(k, s) {
			d.fail()
		}
	}
	d.skip()
}

// foldEqual compares ASCII k and s ignoring case.
func foldEqual(k []byte, s string) bool {
	for i := range k {
		a, b := k[i], s[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// once fails on a repeated kept key (encoding/json merges or replaces
// repeated keys in ways not worth copying).
func (d *podDecoder) once(seen *uint64, bit uint) {
	if *seen&(1<<bit) != 0 {
		d.fail()
	}
	*seen |= 1 << bit
}

// rawString returns the bytes of a string token (quotes included) and
// whether it needs unescaping or validation.
func (d *podDecoder) rawString() (tok []byte, plain bool) {
	start := d.i
	d.skipString()
	tok = d.b[start:d.i]
	body := tok[1 : len(tok)-1]
	for _, c := range body {
		if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			return tok, false
		}
	}
	return tok, true
}

// skipString moves past a string token without looking inside.
func (d *podDecoder) skipString() {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		d.fail()
	}
	start := d.i
	p := d.i + 1
	for {
		j := bytes.IndexByte(d.b[p:], '"')
		if j < 0 {
			d.fail()
		}
		p += j
		// An odd number of backslashes before the quote escapes it.
		n := 0
		for q := p - 1; q > start && d.b[q] == '\\'; q-- {
			n++
		}
		p++
		if n%2 == 0 {
			break
		}
	}
	d.i = p
}

// str reads a string (null leaves ""); interned strings share one copy.
func (d *podDecoder) str(intern bool) string {
	if d.null() {
		return ""
	}
	tok, plain := d.rawString()
	if !plain {
		// Escapes, control bytes or non-ASCII: exactly as encoding/json.
		var s string
		if err := json.Unmarshal(tok, &s); err != nil {
			d.fail()
		}
		return s
	}
	body := tok[1 : len(tok)-1]
	if !intern {
		return string(body)
	}
	return d.internBytes(body)
}

// internBytes returns b as a string, one copy per distinct value: a small
// cache by length and a few bytes in front of a map.
func (d *podDecoder) internBytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := (uint(len(b))*0x9e37 ^ uint(b[0])<<5 ^ uint(b[len(b)/2])<<9 ^ uint(b[len(b)-1])) % uint(len(d.cache))
	if s := d.cache[h]; s == string(b) {
		return s
	}
	s, ok := d.intern[string(b)]
	if !ok {
		s = string(b)
		d.intern[s] = s
	}
	d.cache[h] = s
	return s
}

// number returns a number token, checked against JSON's grammar.
func (d *podDecoder) number() []byte {
	start := d.i
	b := d.b
	i := d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.fail()
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.fail()
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.fail()
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i]
}

// int reads an integer of bits bits; ok is false for null.
func (d *podDecoder) int(bits int) (v int64, ok bool) {
	if d.null() {
		return 0, false
	}
	v, err := strconv.ParseInt(string(d.number()), 10, bits)
	if err != nil {
		d.fail()
	}
	return v, true
}

// bool reads true or false; ok is false for null.
func (d *podDecoder) bool() (v, ok bool) {
	if d.null() {
		return false, false
	}
	switch {
	case d.i+4 <= len(d.b) && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		return true, true
	case d.i+5 <= len(d.b) && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
		return false, true
	}
	d.fail()
	return false, false
}

// time reads a metav1.Time as its UnmarshalJSON does; ok is false for
// null. The last time read is remembered: pods created in the same second
// share the string.
func (d *podDecoder) time() (t metav1.Time, ok bool) {
	if d.null() {
		return t, false
	}
	tok, plain := d.rawString()
	if plain && string(tok) == d.lastTimeTok {
		return d.lastTime, true
	}
	var s string
	if plain {
		s = string(tok[1 : len(tok)-1])
	} else if err := json.Unmarshal(tok, &s); err != nil {
		d.fail()
	}
	pt, err := time.Parse(time.RFC3339, s)
	if err != nil {
		d.fail()
	}
	t = metav1.Time{Time: pt.Local()}
	if plain {
		d.lastTimeTok, d.lastTime = string(tok), t
	}
	return t, true
}

// stringMap reads an object of strings; nil for null.
func (d *podDecoder) stringMap() map[string]string {
	if !d.open('{') {
		return nil
	}
	m := map[string]string{}
	for first := true; d.more('}', &first); {
		tok, plain := d.rawString()
		var k string
		if plain {
			k = d.internBytes(tok[1 : len(tok)-1])
		} else if err := json.Unmarshal(tok, &k); err != nil {
			d.fail()
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			d.fail()
		}
		d.i++
		d.ws()
		if _, dup := m[k]; dup {
			d.fail()
		}
		m[k] = d.str(true)
	}
	return m
}

// typed decodes a value the decoder does not take apart (affinity,
// security contexts: rare and small) with json-iterator, as the full decode
// would; it reports false for null.
func (d *podDecoder) typed(v any) bool {
	if d.null() {
		return false
	}
	start := d.i
	d.skip()
	if err := decodeItem(d.it, d.b[start:d.i], v); err != nil {
		d.fail()
	}
	return true
}

// skip moves past one value, checking its syntax (not what is inside
// strings).
func (d *podDecoder) skip() {
	d.ws()
	if d.i >= len(d.b) {
		d.fail()
	}
	switch c := d.b[d.i]; c {
	case '{', '[':
		// Nesting is bounded as in encoding/json: a deep document must not
		// exhaust the stack (that is fatal, not a panic).
		if d.depth++; d.depth > maxDepth {
			d.fail()
		}
		defer func() { d.depth-- }()
	}
	switch c := d.b[d.i]; c {
	case '{':
		d.i++
		for first := true; d.more('}', &first); {
			d.skipString()
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				d.fail()
			}
			d.i++
			d.skip()
		}
	case '[':
		d.i++
		for first := true; d.more(']', &first); {
			d.skip()
		}
	case '"':
		d.skipString()
	case 't', 'f':
		d.bool()
	case 'n':
		if !d.null() {
			d.fail()
		}
	default:
		d.number()
	}
}

var (
	podKeys       = []string{"apiVersion", "kind", "metadata", "spec", "status"}
	metaKeys      = []string{"name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "labels", "annotations", "ownerReferences"}
	ownerKeys     = []string{"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"}
	specKeys      = []string{"nodeName", "nodeSelector", "serviceAccountName", "hostNetwork", "hostPID", "hostIPC", "priorityClassName", "schedulerName", "affinity", "securityContext", "tolerations", "containers", "initContainers"}
	tolKeys       = []string{"key", "operator", "value", "effect", "tolerationSeconds"}
	containerKeys = []string{"name", "image", "ports", "securityContext"}
	portKeys      = []string{"name", "hostPort", "containerPort", "protocol", "hostIP"}
	statusKeys    = []string{"phase", "reason", "hostIP", "podIP", "podIPs", "qosClass", "startTime", "conditions", "containerStatuses", "initContainerStatuses"}
	podIPKeys     = []string{"ip"}
	condKeys      = []string{"type", "status", "reason"}
	csKeys        = []string{"name", "image", "imageID", "containerID", "ready", "restartCount", "started"}
)

// pod decodes one pod item starting at d.i.
func (d *podDecoder) pod() *corev1.Pod {
	p := d.pods.new()
	if !d.open('{') {
		d.fail() // a null item is not a pod
	}
	var seen uint64
	for first := true; d.more('}', &first); {
		switch k := d.key(); string(k) {
		case "apiVersion":
			d.once(&seen, 0)
			p.APIVersion = d.str(true)
		case "kind":
			d.once(&seen, 1)
			p.Kind = d.str(true)
		case "metadata":
			d.once(&seen, 2)
			d.meta(&p.ObjectMeta)
		case "spec":
			d.once(&seen, 3)
			d.spec(&p.Spec)
		case "status":
			d.once(&seen, 4)
			d.status(&p.Status)
		default:
			d.unknown(k, podKeys)
		}
	}
	return p
}

func (d *podDecoder) meta(m *metav1.ObjectMeta) {
	if !d.open('{') {
		return
	}
	var seen uint64
	for first := true; d.more('}', &first); {
		switch k := d.key(); string(k) {
		case "name":
			d.once(&seen, 0)
			m.Name = d.str(false)
		case "generateName":
			d.once(&seen, 1)
			m.GenerateName = d.str(true)
		case "namespace":
			d.once(&seen, 2)
			m.Namespace = d.str(true)
		case "uid":
			d.once(&seen, 3)
			m.UID = types.UID(d.str(false))
		case "resourceVersion":
			d.once(&seen, 4)
			m.ResourceVersion = d.str(false)
		case "generation":
			d.once(&seen, 5)
			m.Generation, _ = d.int(64)
		case "creationTimestamp":
			d.once(&seen, 6)
			m.CreationTimestamp, _ = d.time()
		case "deletionTimestamp":
			d.once(&seen, 7)
			if t, ok := d.time(); ok {
				m.DeletionTimestamp = &t
			}
		case "labels":
			d.once(&seen, 8)
			m.Labels = d.stringMap()
		case "annotations":
			d.once(&seen, 9)
			m.Annotations = d.stringMap()
		case "ownerReferences":
			d.once(&seen, 10)
			if !d.open('[') {
				break
			}
			d.owners = d.owners[:0]
			for first := true; d.more(']', &first); {
				d.owners = append(d.owners, d.owner())
			}
			m.OwnerReferences = d.ownerSlab.exact(d.owners)
		default:
			d.unknown(k, metaKeys)
		}
	}
}

func (d *podDecoder) owner() (r metav1.OwnerReference) {
	if !d.open('{') {
		return r
	}
	var seen uint64
	for first := true; d.more('}', &first); {
		switch k := d.key(); string(k) {
		case "apiVersion":
			d.once(&seen, 0)
			r.APIVersion = d.str(true)
		case "kind":
			d.once(&seen, 1)
			r.Kind = d.str(true)
		case "name":
			d.once(&seen, 2)
			r.Name = d.str(true)
		case "uid":
			d.once(&seen, 3)
			r.UID = types.UID(d.str(true))
		case "controller":
			d.once(&seen, 4)
			if v, ok := d.bool(); ok {
				r.Controller = &v
			}
		case "blockOwnerDeletion":
			d.once(&seen, 5)
			if v, ok := d.bool(); ok {
				r.BlockOwnerDeletion = &v
			}
		default:
			d.unknown(k, ownerKeys)
		}
	}
	return r
}

func (d *podDecoder) spec(s *corev1.PodSpec) {
	if !d.open('{') {
		return
	}
	var seen uint64
	for first := true; d.more('}', &first); {
		switch k := d.key(); string(k) {
		case "nodeName":
			d.once(&seen, 0)
			s.NodeName = d.str(true)
		case "nodeSelector":
			d.once(&seen, 1)
			s.NodeSelector = d.stringMap()
		case "serviceAccountName":
			d.once(&seen, 2)
			s.ServiceAccountName = d.str(true)
		case "hostNetwork":
			d.once(&seen, 3)
			s.HostNetwork, _ = d.bool()
		case "hostPID":
			d.once(&seen, 4)
			s.HostPID, _ = d.bool()
		case "hostIPC":
			d.once(&seen, 5)
			s.HostIPC, _ = d.bool()
		case "priorityClassName":
			d.once(&seen, 6)
			s.PriorityClassName = d.str(true)
		case "schedulerName":
			d.once(&seen, 7)
			s.SchedulerName = d.str(true)
		case "affinity":
			d.once(&seen, 8)
			if v := new(corev1.Affinity); d.typed(v) {
				s.Affinity = v
			}
		case "securityContext":
			d.once(&seen, 9)
			if v := new(corev1.PodSecurityContext); d.typed(v) {
				s.SecurityContext = v
			}
		case "tolerations":
			d.once(&seen, 10)
			if !d.open('[') {
				break
			}
			d.tols = d.tols[:0]
			for first := true; d.more(']', &first); {
				d.tols = append(d.tols, d.toleration())
			}
			s.Tolerations = d.tolSlab.exact(d.tols)
		case "containers":
			d.once(&seen, 11)
			s.Containers = d.containers()
		case "initContainers":
			d.once(&seen, 12)
			s.InitContainers = d.containers()
		default:
			d.unknown(k, specKeys)
		}
	}
}

func (d *podDecoder) toleration() (t corev1.Toleration) {
	if !d.open('{') {
		return t
	}
	var seen uint64
	for first := true; d.more('}', &first); {
		switch k := d.key(); string(k) {
		case "key":
			d.once(&seen, 0)
			t.Key = d.str(true)
		case "operator":
			d.once(&seen, 1)
			t.Operator = corev1.TolerationOperator(d.str(true))
		case "value":
			d.once(&seen, 2)
			t.Value = d.str(true)
		case "effect":
			d.once(&seen, 3)
			t.Effect = corev1.TaintEffect(d.str(true))
		case "tolerationSeconds":
			d.once(&seen, 4)
			if v, ok := d.int(64); ok {
				t.TolerationSeconds = &v
			}
		default:
			d.unknown(k, tolKeys)
		}
	}
	return t
}

func (d *podDecoder) containers() []corev1.Container {
	if !d.open('[') {
		return nil
	}
	d.ctrs = d.ctrs[:0]
	for first := true; d.more(']', &first); {
		var c corev1.Container
		if d.open('{') {
			var seen uint64
			for first := true; d.more('}', &first); {
				switch k := d.key(); string(k) {
				case "name":
					d.once(&seen, 0)
					c.Name = d.str(true)
				case "image":
					d.once(&seen, 1)
					c.Image = d.str(true)
				case "ports":
					d.once(&seen, 2)
					c.Ports = d.ports()
				case "securityContext":
					d.once(&seen, 3)
					if v := new(corev1.SecurityContext); d.typed(v) {
						c.SecurityContext = v
					}
				default:
					d.unknown(k, containerKeys)
				}
			}
		}
		d.ctrs = append(d.ctrs, c)
	}
	return d.ctrSlab.exact(d.ctrs)
}

func (d *podDecoder) ports() []corev1.ContainerPort {
	if !d.open('[') {
		return nil
	}
	d.portBuf = d.portBuf[:0]
	for first := true; d.more(']', &first); {
		var p corev1.ContainerPort
		if d.open('{') {
			var seen uint64
			for first := true; d.more('}', &first); {
				switch k := d.key(); string(k) {
				case "name":
					d.once(&seen, 0)
					p.Name = d.str(true)
				case "hostPort":
					d.once(&seen, 1)
					v, _ := d.int(32)
					p.HostPort = int32(v)
				case "containerPort":
					d.once(&seen, 2)
					v, _ := d.int(32)
					p.ContainerPort = int32(v)
				case "protocol":
					d.once(&seen, 3)
					p.Protocol = corev1.Protocol(d.str(true))
				case "hostIP":
					d.once(&seen, 4)
					p.HostIP = d.str(true)
				default:
					d.unknown(k, portKeys)
				}
			}
		}
		d.portBuf = append(d.portBuf, p)
	}
	return d.portSlab.exact(d.portBuf)
}

func (d *podDecoder) status(s *corev1.PodStatus) {
	if !d.open('{') {
		return
	}
	var seen uint64
	for first := true; d.more('}', &first); {
		switch k := d.key(); string(k) {
		case "phase":
			d.once(&seen, 0)
			s.Phase = corev1.PodPhase(d.str(true))
		case "reason":
			d.once(&seen, 1)
			s.Reason = d.str(true)
		case "hostIP":
			d.once(&seen, 2)
			s.HostIP = d.str(true)
		case "podIP":
			d.once(&seen, 3)
			s.PodIP = d.str(false)
		case "podIPs":
			d.once(&seen, 4)
			if !d.open('[') {
				break
			}
			s.PodIPs = []corev1.PodIP{}
			for first := true; d.more(']', &first); {
				var ip corev1.PodIP
				if d.open('{') {
					var seen uint64
					for first := true; d.more('}', &first); {
						switch k := d.key(); string(k) {
						case "ip":
							d.once(&seen, 0)
							ip.IP = d.str(false)
						default:
							d.unknown(k, podIPKeys)
						}
					}
				}
				s.PodIPs = append(s.PodIPs, ip)
			}
		case "qosClass":
			d.once(&seen, 5)
			s.QOSClass = corev1.PodQOSClass(d.str(true))
		case "startTime":
			d.once(&seen, 6)
			if t, ok := d.time(); ok {
				s.StartTime = &t
			}
		case "conditions":
			d.once(&seen, 7)
			if !d.open('[') {
				break
			}
			d.conds = d.conds[:0]
			for first := true; d.more(']', &first); {
				var c corev1.PodCondition
				if d.open('{') {
					var seen uint64
					for first := true; d.more('}', &first); {
						switch k := d.key(); string(k) {
						case "type":
							d.once(&seen, 0)
							c.Type = corev1.PodConditionType(d.str(true))
						case "status":
							d.once(&seen, 1)
							c.Status = corev1.ConditionStatus(d.str(true))
						case "reason":
							d.once(&seen, 2)
							c.Reason = d.str(true)
						default:
							d.unknown(k, condKeys)
						}
					}
				}
				d.conds = append(d.conds, c)
			}
			s.Conditions = d.condSlab.exact(d.conds)
		case "containerStatuses":
			d.once(&seen, 8)
			s.ContainerStatuses = d.containerStatuses()
		case "initContainerStatuses":
			d.once(&seen, 9)
			s.InitContainerStatuses = d.containerStatuses()
		default:
			d.unknown(k, statusKeys)
		}
	}
}

func (d *podDecoder) containerStatuses() []corev1.ContainerStatus {
	if !d.open('[') {
		return nil
	}
	d.statuses = d.statuses[:0]
	for first := true; d.more(']', &first); {
		var c corev1.ContainerStatus
		if d.open('{') {
			var seen uint64
			for first := true; d.more('}', &first); {
				switch k := d.key(); string(k) {
				case "name":
					d.once(&seen, 0)
					c.Name = d.str(true)
				case "image":
					d.once(&seen, 1)
					c.Image = d.str(true)
				case "imageID":
					d.once(&seen, 2)
					c.ImageID = d.str(true)
				case "containerID":
					d.once(&seen, 3)
					c.ContainerID = d.str(false)
				case "ready":
					d.once(&seen, 4)
					c.Ready, _ = d.bool()
				case "restartCount":
					d.once(&seen, 5)
					v, _ := d.int(32)
					c.RestartCount = int32(v)
				case "started":
					d.once(&seen, 6)
					if v, ok := d.bool(); ok {
						c.Started = &v
					}
				default:
					d.unknown(k, csKeys)
				}
			}
		}
		d.statuses = append(d.statuses, c)
	}
	return d.statusSlab.exact(d.statuses)
}
