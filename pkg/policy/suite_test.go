package policy

import (
	"os"
	"strings"
	"testing"
)

// The shipped example policy passes its own tests.
func TestExamplePolicy(t *testing.T) {
	res, err := RunTests("../../examples/policy")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cases) < 8 {
		t.Errorf("%d cases", len(res.Cases))
	}
	for _, c := range res.Cases {
		if c.Diff != "" {
			t.Errorf("%s: %s\n%s", c.File, c.Name, c.Diff)
		}
	}
}

func TestFailingSuite(t *testing.T) {
	res, err := RunTests("testdata/failing_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() != 1 || res.Cases[0].Diff != "" {
		t.Fatalf("%+v", res.Cases)
	}
	diff := res.Cases[1].Diff
	for _, want := range []string{
		"verdict: want proceed, got block",
		"- [severe-finding]",
		`+ [source-unavailable] source "falco" (falco) is unavailable: gone; fail-closed blocks`,
		`warnings: none contains "nothing like this"`,
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
}

func TestSuiteErrors(t *testing.T) {
	for path, want := range map[string]string{
		"testdata/bad_test.yaml": `case "typo": input: line 3: json: unknown field "targetz"`,
		"testdata/nothing":       "no such file",
		"testdata/empty":         "no *_test.yaml",
	} {
		if _, err := RunTests(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("RunTests(%s) = %v, want %s", path, err, want)
		}
	}
}

func FuzzParseInput(f *testing.F) {
	f.Add([]byte(`{"now":"2026-11-30T10:00:00Z","targets":[{"kind":"Node","name":"n1","relation":"eligible-node"}],"signals":[{"target":"node n1","signal":{"id":"a","time_dt":"2026-11-30T09:59:00Z","severity_id":5}}],"sources":[{"name":"f","status":"stale"}]}`))
	f.Add([]byte(`{"now":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if in, err := ParseInput(b); err == nil {
			_, _ = Evaluate(Default(), in)
		}
	})
}

// docs/policy.md shows the default policy as it is.
func TestDocsShowTheDefaultPolicy(t *testing.T) {
	b, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "```yaml\n"+DefaultYAML+"```") {
		t.Error("docs/policy.md does not show pkg/policy/default.yaml as it is: copy it into the section \"The default policy\"")
	}
}
