package builtin

import "testing"

func TestRegistry(t *testing.T) {
	r := Registry()
	for _, typ := range []string{"falco", "k8s-audit", "tetragon"} {
		if _, err := r.Lookup(typ); err != nil {
			t.Errorf("Lookup(%q): %v", typ, err)
		}
	}
	if _, err := r.Lookup("nope"); err == nil {
		t.Error("Lookup(\"nope\") succeeded, want an error")
	}
}
