package correlate_test

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulsegate/pulsegate/pkg/correlate"
)

var updateDigests = flag.Bool("update-digests", false, "rewrite testdata/landing-digests.txt from the current code")

// eqRules is the custom sensitivity mapping of some cases: a level for any
// value, a level that is not one (never matches), two rules on one key.
var eqRules = []correlate.SensitivityRule{
	{Key: "team", Values: []string{"shop"}, Level: "low"}, {Key: "app", Level: "medium"},
	{Key: "tier", Values: []string{"back"}, Level: "high"}, {Key: "app", Values: []string{"db"}, Level: "bogus"},
}

// TestSameLandingSets holds Correlate to the landing sets it computed
// before it was rewritten for speed: testdata/landing-digests.txt has, for
// each generated case (equivalence_gen_test.go), the sha256 of the landing
// set's JSON or the error, as the previous builder (commit 4a2011b) wrote
// them. A change meant to alter landing sets rewrites the file with
// -update-digests and says why in its commit.
func TestSameLandingSets(t *testing.T) {
	var got strings.Builder
	for seed := range eqSeeds {
		inv, rel, custom := eqCase(seed)
		var opts []correlate.Option
		if custom {
			opts = append(opts, correlate.WithSensitivity(&correlate.Sensitivity{Rules: eqRules}))
		}
		ls, err := correlate.Correlate(rel, inv, opts...)
		if err != nil {
			fmt.Fprintf(&got, "%d error %q\n", seed, err.Error())
			continue
		}
		b, err := json.Marshal(ls)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&got, "%d %x\n", seed, sha256.Sum256(b))
	}
	path := filepath.Join("testdata", "landing-digests.txt")
	if *updateDigests {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, w := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	if len(g) != len(w) {
		t.Fatalf("%d cases, %s has %d", len(g)-1, path, len(w)-1)
	}
	bad := 0
	for i := range g {
		if g[i] != w[i] {
			if bad++; bad <= 5 {
				t.Errorf("case %d: got %s\n\twant %s", i, g[i], w[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d cases differ from %s", bad, len(g)-1, path)
	}
}
