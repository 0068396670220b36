package k8saudit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/source"
	"github.com/pulsegate/pulsegate/pkg/source/sourcetest"
)

// sameAsSlow parses data on the fast path and with encoding/json alone and
// fails t unless both give the same signals or the same reason. It reports
// whether the fast path decoded the record itself.
func sameAsSlow(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	var f fastEvent
	var fe event
	fast = f.decode(bytes.Clone(data), &fe, new(source.StringArena))
	if fast {
		var je event
		if err := json.Unmarshal(data, &je); err != nil {
			t.Fatalf("fast path decoded what encoding/json rejects (%v): %q", err, data)
		}
		je.decision = je.Annotations["authorization.k8s.io/decision"]
		if got, want := view(&fe), view(&je); !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path decoded\n%#v\nencoding/json\n%#v\ninput %q", got, want, data)
		}
	}
	rec := source.Record{Data: data, File: "f", Line: 1}
	got, gerr := (&Parser{}).Parse(rec)
	want, werr := (&Parser{slow: true}).Parse(rec)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("fast path error %v, encoding/json %v\ninput %q", gerr, werr, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path signals\n%+v\nencoding/json\n%+v\ninput %q", got, want, data)
	}
	return fast
}

// view is an event without what Parse does not read (the annotations
// besides the decision, the impersonated user's groups), with empty and
// nil lists alike.
func view(e *event) event {
	v := *e
	v.Annotations = nil
	if e.ImpersonatedUser != nil {
		v.ImpersonatedUser = &userInfo{Username: e.ImpersonatedUser.Username}
	}
	if len(v.User.Groups) == 0 {
		v.User.Groups = nil
	}
	if len(v.SourceIPs) == 0 {
		v.SourceIPs = nil
	}
	for _, m := range []*json.RawMessage{&v.Kind, &v.RequestObject, &v.ResponseObject} {
		if len(*m) == 0 {
			*m = nil
		}
	}
	return v
}

func corpus(t testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/*.jsonl")
	files = append(files, sourcetest.SeedFiles("k8s-audit", "falco-trace-files/*.json")...)
	files = append(files, sourcetest.SeedFiles("ocsf/examples", "eks-audit-*.raw.json")...)
	return sourcetest.Records(t, Spec, files...)
}

func TestFastPathMatchesEncodingJSON(t *testing.T) {
	fast := 0
	recs := corpus(t)
	for _, r := range recs {
		if sameAsSlow(t, r) {
			fast++
		}
	}
	// Every well-formed record takes the fast path: events.jsonl has two
	// lines that are not audit events.
	if fast < len(recs)-2 {
		t.Errorf("fast path took %d of %d records", fast, len(recs))
	}

	base := string(ev(t, nil))
	edit := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("%q not in %s", old, base)
		}
		return strings.Replace(base, old, new, 1)
	}
	tests := []struct {
		name string
		data string
		fast bool // the fast path decodes it itself
	}{
		{"base", base, true},
		{"escapes", edit(`"/api/v1/namespaces/shop/pods/web-0"`, `"/api/v1/namespaces/shop/pods/web-0?a=1\u0026container=c\"x\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800\udc00\ud800x\udc00"`), true},
		{"non-ASCII and invalid UTF-8", edit(`"alice@example.com"`, "\"al\xc3\xa9ice\xff\xfe\xed\xa0\x80@ex\""), true},
		{"nulls", `{"kind":null,"apiVersion":null,"verb":"get","auditID":"a","user":null,"impersonatedUser":null,"sourceIPs":null,"objectRef":null,"responseStatus":null,"requestObject":null,"responseObject":null,"stageTimestamp":"2025-03-01T10:00:00Z","annotations":null}`, true},
		{"null members", `{"kind":"Event","verb":"get","auditID":"a","user":{"username":null,"groups":[null,"system:unauthenticated"]},"sourceIPs":[null],"objectRef":{"resource":null},"responseStatus":{"code":null,"reason":null},"stageTimestamp":"2025-03-01T10:00:00Z","annotations":{"authorization.k8s.io/decision":null,"x":null}}`, true},
		{"empty objects", `{"kind":"Event","verb":"create","auditID":"a","user":{},"impersonatedUser":{},"sourceIPs":[],"objectRef":{},"responseStatus":{},"requestObject":{},"stageTimestamp":"2025-03-01T10:00:00Z","annotations":{}}`, true},
		{"decision twice", edit(`{"authorization.k8s.io/decision":"allow"}`, `{"authorization.k8s.io/decision":"allow","authorization.k8s.io/decision":"forbid"}`), true},
		{"negative code", edit(`"code":200`, `"code":-403`), true},
		{"white space", " \t\r\n" + strings.ReplaceAll(strings.ReplaceAll(base, `":`, `" :`+"\n "), `,"`, "\t,\r\n\"") + " \n", true},
		{"unknown fields", edit(`"verb":"get"`, `"verb":"get","x":[1,-2.5e+3,0.1E-2,true,false,null,{"a":{}},[]],"y":{}`), true},
		{"kind object", edit(`"kind":"Event"`, `"kind":{"a":[1]}`), true},

		{"case-folded name", edit(`"verb":"get"`, `"verb":"get","VERB":"delete"`), false},
		{"case-folded nested name", edit(`"resource":"pods"`, `"Resource":"pods"`), false},
		{"escaped name", edit(`"verb":"get"`, `"\u0076erb":"get"`), false},
		{"non-ASCII name", edit(`"verb":"get"`, "\"verb\":\"get\",\"\u212aind\":\"x\""), false},
		{"duplicate", edit(`"verb":"get"`, `"verb":"get","verb":"delete"`), false},
		{"duplicate object", edit(`"responseStatus":{"code":200}`, `"responseStatus":{"code":200},"responseStatus":{"reason":"x"}`), false},
		{"code float", edit(`"code":200`, `"code":200.0`), false},
		{"code exponent", edit(`"code":200`, `"code":2e2`), false},
		{"code string", edit(`"code":200`, `"code":"200"`), false},
		{"code too big", edit(`"code":200`, `"code":99999999999999999999`), false},
		{"verb number", edit(`"verb":"get"`, `"verb":1`), false},
		{"groups string", edit(`"groups":["devs","system:authenticated"]`, `"groups":"devs"`), false},
		{"annotation number", edit(`"allow"}`, `"allow","n":1}`), false},
		{"trailing garbage", base + "x", false},
		{"trailing comma", edit(`"verb":"get"`, `"verb":"get",}`), false},
		{"leading zero", edit(`"code":200`, `"code":0200`), false},
		{"bad escape", edit(`"get"`, `"g\et"`), false},
		{"control character", edit(`"get"`, "\"g\x01t\""), false},
		{"truncated", base[:len(base)-10], false},
		{"array", `[1,2]`, false},
		{"deep", edit(`"verb":"get"`, `"verb":"get","x":`+strings.Repeat("[", 300)+strings.Repeat("]", 300)), false},
		{"too deep for encoding/json", edit(`"verb":"get"`, `"verb":"get","x":`+strings.Repeat("[", 10001)+strings.Repeat("]", 10001)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameAsSlow(t, []byte(tt.data)); got != tt.fast {
				t.Errorf("fast path %v, want %v", got, tt.fast)
			}
		})
	}
}

// FuzzFastPath checks that the fast path and encoding/json agree on every
// input: the same signals, or the same reason.
func FuzzFastPath(f *testing.F) {
	for _, r := range corpus(f) {
		f.Add(r)
	}
	f.Add([]byte(`{"kind":"Event","verb":"get","auditID":"a","stageTimestamp":"2025-03-01T10:00:00Z","x":"\ud800\u00e9"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsSlow(t, data)
	})
}

func TestSpecial(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{0, 0x1f, 0x20, '"', '\\', 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	for n := 0; n < 200000; n++ {
		var b [8]byte
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = byte(r.IntN(256))
			}
		}
		want := false
		for _, c := range b {
			want = want || c < 0x20 || c == '"' || c == '\\'
		}
		if got := special(binary.LittleEndian.Uint64(b[:])); got != want {
			t.Fatalf("special(% x) = %v, want %v", b, got, want)
		}
	}
}

// Every object and pod spec of the corpus decodes on the fast path, the
// same as with encoding/json.
func TestFastObjects(t *testing.T) {
	n := 0
	for _, r := range corpus(t) {
		var e event
		if json.Unmarshal(r, &e) != nil {
			continue
		}
		for _, raw := range []json.RawMessage{e.RequestObject, e.ResponseObject} {
			if len(raw) == 0 || raw[0] != '{' {
				continue
			}
			got, ok := decodeObjectFast(raw, nil, "")
			if !ok {
				t.Errorf("fast path gave up on %s", raw)
				continue
			}
			want := decodeObject(raw, true, nil, "")
			if want == nil {
				t.Fatalf("encoding/json gave up on %s", raw)
			}
			want.slow = false
			want.Kind = "" // nothing reads it: the fast path checks it only
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fast path decoded\n%+v\nencoding/json\n%+v", got, want)
			}
			for _, res := range []string{"pods", "deployments", "cronjobs"} {
				wantPS := want.podSpec(res)
				if wantPS == nil {
					continue
				}
				n++
				want := *wantPS
				want.Volumes = slices.Clone(want.Volumes)
				for i := range want.Volumes {
					want.Volumes[i].Name = "" // nothing reads it
				}
				ps, ok := podSpecFast(got.Spec, res, nil)
				if !ok {
					t.Errorf("fast path gave up on the %s spec %s", res, got.Spec)
				} else if !reflect.DeepEqual(*ps, want) {
					t.Errorf("fast path decoded the %s spec\n%+v\nencoding/json\n%+v", res, ps, want)
				}
				// The same, decoded with the object.
				if o, ok := decodeObjectFast(raw, nil, res); !ok || !o.psDone {
					t.Errorf("fast path gave up on the object or the %s spec in it: %s", res, raw)
				} else if !reflect.DeepEqual(*o.ps, want) || !bytes.Equal(o.Spec, got.Spec) {
					t.Errorf("fast path decoded the %s spec in the object\n%+v\nencoding/json\n%+v", res, o.ps, want)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no pod specs in the corpus")
	}
}

// skipAll reports whether data is one JSON value as skip sees it.
func skipAll(data []byte) bool {
	s := scanner{b: data}
	s.ws()
	return s.skip() && s.end()
}

func TestSkip(t *testing.T) {
	for _, r := range corpus(t) {
		if !skipAll(r) {
			t.Errorf("skip rejects %s", r)
		}
	}
	for _, in := range []string{`1`, `-0.5e+7`, `"a\u00e9\"\\"`, `[]`, `{}`, `[1,{"a":[true,false,null]}, "x" ]`, " {\"a\" :\t1\r\n}\n"} {
		if !skipAll([]byte(in)) {
			t.Errorf("skip rejects %s", in)
		}
	}
	for _, in := range []string{``, `[`, `{`, `[1,]`, `{"a":1,}`, `{"a"}`, `{1:2}`, `01`, `1.`, `1e`, `-`, `tru`, `nul`, `"\x"`, "\"\x01\"", `"abc`, `[1 2]`, `{"a":1 "b":2}`, `[1]]`, `{"a":1}}`, `]`} {
		if skipAll([]byte(in)) {
			t.Errorf("skip accepts %q", in)
		}
	}
}

// FuzzSkip checks skip against json.Valid (but for nesting deeper than
// the fast path's limit, where it gives up on valid JSON).
func FuzzSkip(f *testing.F) {
	for _, r := range corpus(f) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, want := skipAll(data), json.Valid(data)
		if got != want && !(want && bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > maxDepth) {
			t.Fatalf("skip %v, json.Valid %v: %q", got, want, data)
		}
	})
}

func TestSpecialsFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	interesting := []byte{0, 0x1f, 0x20, '"', '\\', 0x21, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	for n := 0; n < 200000; n++ {
		var b [8]byte
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = byte(r.IntN(256))
			}
		}
		want := 8
		for i, c := range b {
			if c < 0x20 || c == '"' || c == '\\' {
				want = i
				break
			}
		}
		m := specials(binary.LittleEndian.Uint64(b[:]))
		got := 8
		if m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("first special byte of % x at %d, want %d", b, got, want)
		}
	}
}

// The objects of a pod create are decoded in the same pass as the event,
// and those of a get are not decoded at all.
func TestObjectsOnTheWay(t *testing.T) {
	pod := `{"kind":"Pod","metadata":{"name":"p","namespace":"ns","ownerReferences":[{"kind":"ReplicaSet","name":"rs","controller":true}]},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx@sha256:abc","securityContext":{"privileged":true}}]}}`
	for _, tt := range []struct {
		verb    string
		decoded bool
	}{{"create", true}, {"get", false}} {
		// In the API server's order: verb and objectRef before the objects.
		data := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete",` +
			`"requestURI":"/api/v1/namespaces/ns/pods","verb":"` + tt.verb + `","user":{"username":"alice"},` +
			`"objectRef":{"resource":"pods","namespace":"ns","apiVersion":"v1"},"responseStatus":{"code":201},` +
			`"requestObject":` + pod + `,"responseObject":` + pod + `,"stageTimestamp":"2025-03-01T10:00:00Z"}`)
		var f fastEvent
		var e event
		if !f.decode(data, &e, new(source.StringArena)) {
			t.Fatalf("%s: fast path gave up", tt.verb)
		}
		if got := f.reqO != nil && f.respO != nil; got != tt.decoded {
			t.Errorf("%s: objects decoded on the way %v, want %v", tt.verb, got, tt.decoded)
		}
		if tt.decoded && (!f.reqO.psDone || f.reqO.ps == nil || f.reqO.ps.NodeName != "n1") {
			t.Errorf("%s: pod spec not decoded with the object: %+v", tt.verb, f.reqO)
		}
		sameAsSlow(t, data)
	}
	// Keys in alphabetical order (the falco trace files): the verb comes
	// last, and the objects are decoded all the same.
	data := ev(t, map[string]any{"verb": "create", "objectRef": ref("pods", "ns", "", ""),
		"requestObject": json.RawMessage(pod), "responseObject": json.RawMessage(pod)})
	var f fastEvent
	var e event
	if !f.decode(data, &e, new(source.StringArena)) || f.reqO == nil || f.respO == nil {
		t.Errorf("objects not decoded on the way in %s", data)
	}
	sameAsSlow(t, data)
}
