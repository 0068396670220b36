package inventory

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/kube"
)

// slowParse is Parse without the fast path.
func slowParse(t testing.TB, b []byte) (*Inventory, error) {
	t.Helper()
	objs, err := kube.Parse(b, "x.json")
	if err != nil {
		return nil, err
	}
	inv := New()
	for _, o := range objs {
		if err := inv.add(o); err != nil {
			return nil, err
		}
	}
	inv.Index()
	return inv, nil
}

func written(t testing.TB, inv *Inventory) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := inv.WriteList(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The fast path reads the demo's kubectl-shaped List exactly as the
// generic path does.
func TestFastPathAgrees(t *testing.T) {
	b, err := os.ReadFile("../../examples/demo/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	fast := New()
	if err := parseFast(b, fast); err != nil {
		t.Fatalf("the demo inventory did not take the fast path: %v", err)
	}
	fast.Index()
	slow, err := slowParse(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written(t, fast), written(t, slow)) {
		t.Error("fast and generic paths disagree on the demo inventory")
	}
	if len(fast.Pods) == 0 || len(fast.Nodes) == 0 {
		t.Error("empty inventory")
	}
}

func TestFastPathFallsBack(t *testing.T) {
	for name, doc := range map[string]string{
		"yaml":            "apiVersion: v1\nkind: List\nitems: []\n",
		"not a list":      `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`,
		"two documents":   `{"kind":"List","items":[]} {"kind":"List","items":[]}`,
		"item kind late":  `{"kind":"List","items":[{"a":1,"b":2,"c":3,"d":4,"kind":"Pod"}]}`,
		"nested list":     `{"kind":"List","items":[{"kind":"List","items":[]}]}`,
		"bad item":        `{"kind":"List","items":[{"kind":"Pod","metadata":{"name":5}}]}`,
		"escaped key":     `{"ki\u006ed":"List","items":[]}`,
		"truncated":       `{"kind":"List","items":[{"kind":"Pod"`,
		"array":           `[{"kind":"Pod","metadata":{"name":"p"}}]`,
		"trailing commas": `{"kind":"List","items":[{"kind":"Pod"},]}`,
	} {
		if err := parseFast([]byte(doc), New()); err == nil {
			t.Errorf("%s: took the fast path", name)
		}
	}
	// A bad item still gets the generic path's error, with file and line.
	_, err := Parse([]byte("{\"kind\":\"List\",\"items\":[\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":5}}]}"), "snap.json")
	if err == nil || !strings.Contains(err.Error(), "snap.json:1") {
		t.Errorf("bad item: %v", err)
	}
}

// FuzzParseFast: the fast path never panics, and whenever it accepts a
// document the generic path reads the same inventory from it.
func FuzzParseFast(f *testing.F) {
	if b, err := os.ReadFile("../../examples/demo/inventory.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node","metadata":{"name":"n","labels":{"a":"b"}}}]}`))
	f.Add([]byte(`{"kind":"List","items":[{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"x"},"spec":{"nodeName":"n"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast := New()
		if parseFast(b, fast) != nil {
			_, _ = Parse(b, "fuzz.json") // must not panic either
			return
		}
		fast.Index()
		slow, err := slowParse(t, b)
		if err != nil {
			// json-iterator is more lenient than encoding/json in a few
			// corners (e.g. invalid UTF-8); that is not a disagreement on
			// valid input.
			return
		}
		if !bytes.Equal(written(t, fast), written(t, slow)) {
			t.Errorf("fast and generic paths disagree on %q", b)
		}
	})
}
