package inventory

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	jsoniter "github.com/json-iterator/go"
	corev1 "k8s.io/api/core/v1"
)

// The fast path of Parse: a snapshot is usually one JSON List of tens of
// thousands of items, nearly all of them pods. The generic manifest reader
// (pkg/kube) validates the whole document, decodes it into raw items,
// decodes each item's header and then the item again; here the List is
// walked once, in place: each item's kind is read from its first keys, a
// pod is read by the pod decoder (pod.go: the fields the inventory's
// readers use, the rest skipped), and any other item is decoded once into
// its typed object by json-iterator (the decoder apimachinery itself used
// for years; about twice as fast as encoding/json on Kubernetes types).
// Anything unusual (YAML, a document that is not one List, an item without
// a kind, a decode error) falls back to the generic path, which names file,
// line and field in its errors.

var fastJSON = jsoniter.ConfigCompatibleWithStandardLibrary

// errFallback says "use the generic path"; it never reaches a caller.
var errFallback = fmt.Errorf("inventory: not a plain JSON List")

// parseFast fills inv from a JSON List, or returns errFallback; the
// inventory keeps a copy of the pods' item bytes.
func parseFast(b []byte, inv *Inventory) error { return parseList(b, inv, true) }

// parseList is parseFast; keep says whether the inventory keeps a copy of
// the pods' item bytes (for WriteList).
func parseList(b []byte, inv *Inventory, keep bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errFallback // untrusted input: never panic, let the generic path report
		}
	}()
	d := &podDecoder{b: b, intern: map[string]string{}, it: jsoniter.NewIterator(fastJSON)}
	var raw rawArena
	d.ws()
	if !d.open('{') {
		return errFallback
	}
	kind := ""
	var seen uint64
	for first := true; d.more('}', &first); {
		switch k := d.key(); string(k) {
		case "kind":
			d.once(&seen, 0)
			if kind = d.str(false); kind != "List" {
				return errFallback
			}
		case "items":
			d.once(&seen, 1)
			if !d.open('[') {
				return errFallback
			}
			for first := true; d.more(']', &first); {
				start := d.i
				if d.i >= len(b) || b[d.i] != '{' {
					return errFallback
				}
				k := itemKind(b[start:])
				if k == "" || strings.HasSuffix(k, "List") {
					return errFallback
				}
				if k == "Pod" {
					p := d.pod()
					if keep {
						if inv.podRaw == nil {
							inv.podRaw = map[*corev1.Pod][]byte{}
						}
						inv.podRaw[p] = raw.copy(b[start:d.i])
					} else {
						inv.slimPods = true
					}
					inv.Pods = append(inv.Pods, p)
					continue
				}
				d.skip()
				if err := inv.addJSON(d.it, k, b[start:d.i]); err != nil {
					return errFallback
				}
			}
		default:
			d.unknown(k, []string{"kind", "items"})
		}
	}
	d.ws()
	if d.i != len(b) || kind != "List" || seen&2 == 0 {
		return errFallback
	}
	return nil
}

// rawArena copies byte slices into large shared blocks.
type rawArena struct{ buf []byte }

func (a *rawArena) copy(b []byte) []byte {
	if len(b) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(4<<20, len(b)))
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// addJSON decodes one item of a known kind, or counts it as skipped.
func (inv *Inventory) addJSON(it *jsoniter.Iterator, kind string, item []byte) error {
	switch kind {
	case "Namespace":
		v := new(corev1.Namespace)
		if err := decodeItem(it, item, v); err != nil {
			return err
		}
		inv.Namespaces[v.Name] = v
	case "Node":
		v := new(corev1.Node)
		if err := decodeItem(it, item, v); err != nil {
			return err
		}
		inv.Nodes[v.Name] = v
	case "Pod":
		return fastInto(it, item, &inv.Pods)
	case "ReplicaSet":
		return fastInto(it, item, &inv.ReplicaSets)
	case "Deployment":
		return fastInto(it, item, &inv.Deployments)
	case "StatefulSet":
		return fastInto(it, item, &inv.StatefulSets)
	case "DaemonSet":
		return fastInto(it, item, &inv.DaemonSets)
	case "Job":
		return fastInto(it, item, &inv.Jobs)
	case "CronJob":
		return fastInto(it, item, &inv.CronJobs)
	case "Service":
		return fastInto(it, item, &inv.Services)
	case "Ingress":
		return fastInto(it, item, &inv.Ingresses)
	case "ServiceAccount":
		return fastInto(it, item, &inv.ServiceAccounts)
	default:
		inv.Skipped[kind]++
	}
	return nil
}

func fastInto[T any](it *jsoniter.Iterator, item []byte, dst *[]*T) error {
	v := new(T)
	if err := decodeItem(it, item, v); err != nil {
		return err
	}
	*dst = append(*dst, v)
	return nil
}

// decodeItem decodes one JSON value (item holds exactly one) into v with
// the parse's own iterator: fastJSON.Unmarshal's pooled iterators would
// keep the last item, and with it the whole snapshot, alive.
func decodeItem(it *jsoniter.Iterator, item []byte, v any) error {
	it.ResetBytes(item)
	it.Error = nil
	it.ReadVal(v)
	if it.Error != nil && it.Error != io.EOF {
		return it.Error
	}
	return nil
}

// itemKind reads "kind" among the first keys of an object (both
// `kubectl get -o json` and WriteList put apiVersion and kind first); it
// gives up after a few keys, and then the caller falls back.
func itemKind(item []byte) string {
	s := scanner{b: item, i: 1}
	for n := 0; n < 4; n++ {
		s.ws()
		if n > 0 && !s.eat(',') {
			return ""
		}
		s.ws()
		key, ok := s.str()
		if !ok {
			return ""
		}
		s.ws()
		if !s.eat(':') {
			return ""
		}
		s.ws()
		if key == "kind" {
			k, ok := s.str()
			if !ok {
				return ""
			}
			return k
		}
		if !s.value() {
			return ""
		}
	}
	return ""
}

// scanner finds JSON value boundaries; it does not validate what is inside
// strings or numbers (the typed decode does).
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes (keys and kinds have none); a string
// with a backslash is refused.
func (s *scanner) str() (string, bool) {
	if !s.eat('"') {
		return "", false
	}
	j := bytes.IndexByte(s.b[s.i:], '"')
	if j < 0 {
		return "", false
	}
	v := s.b[s.i : s.i+j]
	if bytes.IndexByte(v, '\\') >= 0 {
		return "", false
	}
	s.i += j + 1
	return string(v), true
}

// value skips one value: an object or array by depth, a string, or a
// literal up to the next delimiter.
func (s *scanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			c := s.b[s.i]
			switch c {
			case '"':
				if !s.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	case '"':
		return s.skipString()
	default:
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return s.i > start
			}
			s.i++
		}
		return s.i > start
	}
}

// skipString moves past a string that starts at s.i, honouring escapes.
func (s *scanner) skipString() bool {
	s.i++ // opening quote
	for {
		j := bytes.IndexAny(s.b[s.i:], "\"\\")
		if j < 0 {
			return false
		}
		s.i += j
		if s.b[s.i] == '"' {
			s.i++
			return true
		}
		s.i += 2 // a backslash and the escaped byte
		if s.i > len(s.b) {
			return false
		}
	}
}
