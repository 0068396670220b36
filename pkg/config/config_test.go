package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadCases(t *testing.T) {
	tests := []struct {
		file string
		// wantErr are substrings of the error; none means it loads.
		wantErr []string
	}{
		{"valid.yaml", nil},
		{"empty.yaml", nil},
		{"unknown-key.yaml", []string{`line 3: unknown key "foo"`}},
		{"unknown-nested-key.yaml", []string{`line 5: unknown key "maxage"`}},
		{"unknown-keys-several.yaml", []string{`line 1: unknown key "invetory"`, `line 5: unknown key "failmode"`}},
		{"missing-type.yaml", []string{`telemetry[0]: missing key "type"`}},
		{"missing-path.yaml", []string{`telemetry[0]: missing key "path"`}},
		{"missing-both.yaml", []string{`telemetry[0]: missing key "type"`, `telemetry[0]: missing key "path"`}},
		{"bad-max-age.yaml", []string{`telemetry[0]: max_age: "15 minutes" is not a positive duration like 15m`}},
		{"zero-max-age.yaml", []string{`telemetry[0]: max_age: "0s" is not a positive duration`}},
		{"negative-max-age.yaml", []string{`telemetry[0]: max_age: "-5m" is not a positive duration`}},
		{"wrong-type.yaml", []string{"line 2: cannot unmarshal"}},
		{"duplicate-key.yaml", []string{`line 3: mapping key "inventory" already defined at line 1`}},
		{"invalid-yaml.yaml", []string{"invalid YAML: yaml: line 2: did not find expected '-' indicator"}},
		{"two-documents.yaml", []string{"line 2: a second YAML document"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			c, err := Load(path)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c == nil {
					t.Fatal("no config")
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "config "+path+": ") {
				t.Errorf("error %q does not name the file", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// Every case file has a row above.
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no test case", f)
		}
	}
}

func TestLoadResolvesPaths(t *testing.T) {
	c, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Release:   "testdata/releases/app.yaml",
		Inventory: "testdata/inventory.json",
		Policy:    "/etc/pulsegate/policy.yaml",
		Model:     "-",
		Namespace: "payments",
		Cluster:   "prod-eu-1",
		Mode:      "shadow",
		Output:    "json",
		Now:       "2026-11-30T10:00:00Z",
		Telemetry: []Telemetry{
			{Name: "falco-prod", Type: "falco", Path: "testdata/telemetry/falco.jsonl", MaxAge: "15m", FailMode: "fail-closed", Cluster: "prod-eu-1"},
			{Type: "tetragon", Path: "/var/log/tetragon.jsonl", MaxAge: "1h30m"},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}

	// Parse resolves nothing: it does not know where the bytes came from.
	b, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Inventory != "inventory.json" || p.Telemetry[0].Path != "telemetry/falco.jsonl" {
		t.Errorf("Parse changed paths: %q, %q", p.Inventory, p.Telemetry[0].Path)
	}
}

func TestLoadDemo(t *testing.T) {
	c, err := Load("../../examples/demo/pulsegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Inventory != filepath.Join("../../examples/demo", "inventory.json") {
		t.Errorf("Inventory = %q", c.Inventory)
	}
	if len(c.Telemetry) != 3 {
		t.Fatalf("%d telemetry entries, want 3", len(c.Telemetry))
	}
	for _, tl := range c.Telemetry {
		if _, err := os.Stat(tl.Path); err != nil {
			t.Errorf("telemetry %s: %v", tl.Name, err)
		}
		if d, err := tl.MaxAgeDuration(); err != nil || d != 15*time.Minute {
			t.Errorf("telemetry %s: max age %v, %v", tl.Name, d, err)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("error = %v", err)
	}
}

func TestMaxAgeDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"15m", 15 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"500ms", 500 * time.Millisecond, false},
		{"15", 0, true},
		{"0", 0, true},
		{"0s", 0, true},
		{"-1m", 0, true},
		{"fifteen minutes", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Telemetry{MaxAge: tt.in}.MaxAgeDuration()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("MaxAgeDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "max_age: ") {
				t.Errorf("error %q does not name the key", err)
			}
		})
	}
}

func TestDocuments(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"leading marker", "---\ncluster: a\n", ""},
		{"trailing marker", "cluster: a\n---\n", ""},
		{"trailing marker and comment", "cluster: a\n---\n# end\n", ""},
		{"document end marker", "cluster: a\n...\n", ""},
		{"second document", "cluster: a\n---\nnamespace: b\n", "line 2: a second YAML document"},
		{"third document", "cluster: a\n---\n---\nnamespace: b\n", "line 3: a second YAML document"},
		{"broken second document", "cluster: a\n---\nnamespace: [b\n", "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil || c.Cluster != "a" {
					t.Errorf("Parse = %+v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestYAMLErrorPassesOthersThrough(t *testing.T) {
	_, err := Parse([]byte("cluster: [a\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "invalid YAML: ") {
		t.Errorf("error = %v", err)
	}
}

// FuzzParse: configuration files are user input; Parse never panics, and
// a configuration it accepts is complete.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, "../../examples/demo/pulsegate.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("telemetry: [{type: a, path: b, max_age: 1ns}]"))
	f.Add([]byte("telemetry: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for i, tl := range c.Telemetry {
			if tl.Type == "" || tl.Path == "" {
				t.Errorf("telemetry[%d] accepted without type or path: %+v", i, tl)
			}
			if _, err := tl.MaxAgeDuration(); err != nil {
				t.Errorf("telemetry[%d] accepted with %v", i, err)
			}
		}
		c.resolve("/base")
	})
}
