package kube

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// obj is the part of an Object a test checks.
type obj struct {
	Line      int
	Kind      string
	Name      string
	Namespace string
}

func summarize(objs []Object) []obj {
	out := make([]obj, len(objs))
	for i, o := range objs {
		out[i] = obj{o.Line, o.Kind, o.Name, o.Namespace}
	}
	return out
}

func equal(a, b []obj) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []obj
		// wantErr lists substrings of the error; empty means no error.
		wantErr []string
	}{
		{
			name: "one YAML document",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n",
			want: []obj{{1, "ConfigMap", "a", "ns"}},
		},
		{
			name: "leading separator and comment-only document",
			in: "---\n" + // 1
				"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n" + // 2-5
				"---\n" + // 6
				"# nothing here but a comment\n" + // 7
				"---\n" + // 8
				"apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: ns\n", // 9-
			want: []obj{{2, "ConfigMap", "a", ""}, {9, "Secret", "b", "ns"}},
		},
		{
			name: "empty documents and trailing separator",
			in:   "---\n---\n\n---\nkind: A\nmetadata: {name: a}\n---\n",
			want: []obj{{5, "A", "a", ""}},
		},
		{
			name: "document that starts with comments starts at its first line",
			in:   "kind: A\n---\n# Source: chart/templates/b.yaml\nkind: B\n",
			want: []obj{{1, "A", "", ""}, {3, "B", "", ""}},
		},
		{
			name: "CRLF line ends",
			in:   "kind: A\r\nmetadata:\r\n  name: a\r\n---\r\nkind: B\r\n",
			want: []obj{{1, "A", "a", ""}, {5, "B", "", ""}},
		},
		{
			// YAML allows a comment after the marker; the second document
			// was once dropped without a word.
			name: "separator followed by a comment",
			in:   "kind: A\n--- # second\nkind: B\n---\t# third\nkind: C\n",
			want: []obj{{1, "A", "", ""}, {3, "B", "", ""}, {5, "C", "", ""}},
		},
		{
			name: "separator-like lines are not separators",
			in:   "kind: A\ndata:\n  x: |\n    ----\n    --- x\n",
			want: []obj{{1, "A", "", ""}},
		},
		{
			name: "null document skipped",
			in:   "~\n---\nkind: A\n",
			want: []obj{{3, "A", "", ""}},
		},
		{
			name: "YAML sequence of objects",
			in:   "- kind: A\n- kind: B\n",
			want: []obj{{1, "A", "", ""}, {1, "B", "", ""}},
		},
		{
			name: "JSON stream",
			in: `{"apiVersion": "v1", "kind": "A", "metadata": {"name": "a"}}` + "\n\n" +
				`  {"kind": "B",` + "\n" + `"metadata": {"name": "b", "namespace": "ns"}}` + "\n" +
				`{"kind": "C"}`,
			want: []obj{{1, "A", "a", ""}, {3, "B", "b", "ns"}, {5, "C", "", ""}},
		},
		{
			name: "JSON after a byte order mark",
			in:   "\ufeff{\"kind\": \"A\"}\n",
			want: []obj{{1, "A", "", ""}},
		},
		{
			name: "JSON array",
			in:   "[\n{\"kind\": \"A\", \"metadata\": {\"name\": \"a\"}},\n{\"kind\": \"B\"}\n]\n",
			want: []obj{{1, "A", "a", ""}, {1, "B", "", ""}},
		},
		{
			name: "kind List in YAML",
			in: "# kubectl get -o yaml\napiVersion: v1\nkind: List\nitems:\n" +
				"- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: ns\n" +
				"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n    namespace: ns\n",
			want: []obj{{1, "Namespace", "ns", ""}, {1, "Pod", "p", "ns"}},
		},
		{
			name: "typed list kind (PodList)",
			in:   `{"kind": "PodList", "items": [{"kind": "Pod", "metadata": {"name": "p"}}]}`,
			want: []obj{{1, "Pod", "p", ""}},
		},
		{
			name: "nested Lists are flattened",
			in: `{"kind": "List", "items": [` +
				`{"kind": "A"},` +
				`{"kind": "List", "items": [{"kind": "B"}, {"kind": "List", "items": [{"kind": "C"}]}]},` +
				`[{"kind": "D"}],` +
				`{"kind": "E"}]}`,
			want: []obj{{1, "A", "", ""}, {1, "B", "", ""}, {1, "C", "", ""}, {1, "D", "", ""}, {1, "E", "", ""}},
		},
		{
			name: "empty List",
			in:   "kind: List\nitems: []\n",
			want: []obj{},
		},
		{
			name: "empty input",
			in:   "",
			want: []obj{},
		},
		{
			name: "comments only",
			in:   "# a\n# b\n",
			want: []obj{},
		},
		{
			name:    "invalid YAML names its document's line",
			in:      "kind: A\n---\nkind: B\nmetadata:\n  name: b\n   namespace: bad\n---\nkind: C\n",
			want:    []obj{{1, "A", "", ""}, {8, "C", "", ""}},
			wantErr: []string{"f.yaml:3: invalid YAML"},
		},
		{
			name:    "unterminated flow mapping",
			in:      "kind: A\nmetadata: {name: a\n",
			want:    []obj{},
			wantErr: []string{"f.yaml:1: invalid YAML"},
		},
		{
			name:    "invalid JSON value in a stream names its own line",
			in:      "{\"kind\": \"A\"}\n\n{\"kind\": }\n",
			want:    []obj{{1, "A", "", ""}},
			wantErr: []string{"f.yaml:3: invalid JSON"},
		},
		{
			name:    "truncated JSON",
			in:      "{\"kind\": \"A\",\n\"metadata\": {",
			want:    []obj{},
			wantErr: []string{"f.yaml:1: invalid JSON"},
		},
		{
			name:    "missing kind",
			in:      "kind: A\n---\napiVersion: v1\nmetadata:\n  name: nameless\n",
			want:    []obj{{1, "A", "", ""}},
			wantErr: []string{`f.yaml:3: missing field "kind"`},
		},
		{
			name:    "missing kind in a List item names the item",
			in:      `{"kind": "List", "items": [{"kind": "A"}, {"metadata": {}}]}`,
			want:    []obj{{1, "A", "", ""}},
			wantErr: []string{"item 1: f.yaml:1: missing field \"kind\""},
		},
		{
			name:    "scalar document",
			in:      "just a string\n",
			want:    []obj{},
			wantErr: []string{"f.yaml:1: not a Kubernetes object"},
		},
		{
			name:    "kind of the wrong type",
			in:      "kind: [a]\n",
			want:    []obj{},
			wantErr: []string{"f.yaml:1: not a Kubernetes object"},
		},
		{
			name:    "errors from several documents are all reported",
			in:      "apiVersion: v1\n---\nkind: [x\n---\nkind: B\n",
			want:    []obj{{5, "B", "", ""}},
			wantErr: []string{`f.yaml:1: missing field "kind"`, "f.yaml:3: invalid YAML"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Parse([]byte(tt.in), "f.yaml")
			if got := summarize(objs); !equal(got, tt.want) {
				t.Errorf("objects = %+v, want %+v", got, tt.want)
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			} else {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			}
			for _, o := range objs {
				if o.File != "f.yaml" {
					t.Errorf("File = %q", o.File)
				}
				if !json.Valid(o.JSON) {
					t.Errorf("%s: JSON is not valid: %s", o.Where(), o.JSON)
				}
			}
		})
	}
}

// TestParseErrorLineIsAbsolute checks that the line an error names is the
// line in the file where the bad document starts, however many documents
// come before it.
func TestParseErrorLineIsAbsolute(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString("kind: ConfigMap\nmetadata:\n  name: cm\n")
	}
	lines := strings.Count(b.String(), "\n")
	b.WriteString("---\nkind: Broken\nmetadata: [\n")
	_, err := Parse([]byte(b.String()), "big.yaml")
	want := "big.yaml:" + strconv.Itoa(lines+2) + ": invalid YAML"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want one containing %q", err, want)
	}
}

func TestObjectDecode(t *testing.T) {
	objs, err := Parse([]byte("kind: Pod\nmetadata:\n  name: p\n  namespace: ns\nspec:\n  nodeName: n1\n"), "pod.yaml")
	if err != nil || len(objs) != 1 {
		t.Fatalf("Parse: %v, %d objects", err, len(objs))
	}
	var p corev1.Pod
	if err := objs[0].Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "p" || p.Namespace != "ns" || p.Spec.NodeName != "n1" {
		t.Errorf("decoded pod = %s/%s on %q", p.Namespace, p.Name, p.Spec.NodeName)
	}
	if got := objs[0].Ref(); got != "Pod ns/p" {
		t.Errorf("Ref() = %q", got)
	}
	if got := objs[0].Where(); got != "pod.yaml:1" {
		t.Errorf("Where() = %q", got)
	}
	if got := (Object{Kind: "Node", Name: "n1"}).Ref(); got != "Node n1" {
		t.Errorf("cluster-scoped Ref() = %q", got)
	}

	bad, _ := Parse([]byte("---\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: 3\n"), "bad.yaml")
	if len(bad) != 1 {
		t.Fatalf("%d objects", len(bad))
	}
	err = bad[0].Decode(&p)
	if err == nil || !strings.HasPrefix(err.Error(), "bad.yaml:2: Pod p: ") {
		t.Errorf("Decode error = %v, want it to start with %q", err, "bad.yaml:2: Pod p: ")
	}
}

func TestReadPath(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		want    []string // "file:line Kind name"
		wantErr string
	}{
		{
			name: "folder, recursive, in name order, other extensions ignored",
			path: "testdata/tree",
			want: []string{
				"testdata/tree/Upper.YAML:1 ConfigMap upper",
				"testdata/tree/a.json:1 ConfigMap a1",
				"testdata/tree/b.yaml:3 ConfigMap b1",
				"testdata/tree/b.yaml:9 ConfigMap b2",
				"testdata/tree/sub/c.yml:1 ConfigMap c1",
				"testdata/tree/sub/c.yml:1 ConfigMap c2",
			},
		},
		{
			name: "one file",
			path: "testdata/tree/b.yaml",
			want: []string{"testdata/tree/b.yaml:3 ConfigMap b1", "testdata/tree/b.yaml:9 ConfigMap b2"},
		},
		{
			name: "a file of any extension is read when named",
			path: "testdata/tree/sub/notes.txt",
			want: []string{"testdata/tree/sub/notes.txt:1 NotAManifest "},
		},
		{
			name: "folder with a broken file keeps the good objects",
			path: "testdata/bad",
			want: []string{
				"testdata/bad/1-good.yaml:1 ConfigMap good",
				"testdata/bad/2-broken.yaml:1 ConfigMap ok-before-the-error",
			},
			wantErr: "testdata/bad/2-broken.yaml:6: invalid YAML",
		},
		{
			name:    "missing path",
			path:    "testdata/does-not-exist",
			wantErr: "no such file or directory",
		},
		{
			name:    "folder without manifests",
			path:    "testdata/tree/sub/empty",
			wantErr: "no .yaml, .yml or .json files",
		},
	}
	if err := os.MkdirAll(filepath.Join("testdata", "tree", "sub", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	// git keeps no empty folders: make it, and leave it out of the tree.
	t.Cleanup(func() { os.Remove(filepath.Join("testdata", "tree", "sub", "empty")) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := ReadPath(tt.path)
			var got []string
			for _, o := range objs {
				got = append(got, filepath.ToSlash(o.Where())+" "+o.Kind+" "+o.Name)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(filepath.ToSlash(err.Error()), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadPathStdin(t *testing.T) {
	f, err := os.Open("testdata/tree/b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	objs, err := ReadPath("-")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Where() != "-:3" || objs[1].Name != "b2" {
		t.Errorf("objects = %+v", summarize(objs))
	}
}

// TestParseDemo reads the demo's files (written by examples/demo/generate.py).
func TestParseDemo(t *testing.T) {
	objs, err := ReadPath("../../examples/demo/releases")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, filepath.Base(o.File)+":"+strconv.Itoa(o.Line)+" "+o.Ref())
	}
	want := []string{
		"payments-api.yaml:1 Deployment payments/payments-api",
		"payments-api.yaml:37 Service payments/payments-api",
		"storefront-web.yaml:1 Deployment storefront/web",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
