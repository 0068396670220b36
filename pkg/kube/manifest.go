package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Object is one raw manifest with where it came from.
type Object struct {
	File       string
	Line       int    // 1-based line where the document starts
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string
	Namespace  string
	JSON       []byte // the object as JSON
}

// Where is "FILE:LINE".
func (o Object) Where() string { return fmt.Sprintf("%s:%d", o.File, o.Line) }

// Ref is "Kind namespace/name" for messages.
func (o Object) Ref() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Decode unmarshals the object into v (an upstream API type), naming the
// object's file and line on error.
func (o Object) Decode(v any) error {
	if err := json.Unmarshal(o.JSON, v); err != nil {
		return fmt.Errorf("%s: %s: %w", o.Where(), o.Ref(), err)
	}
	return nil
}

// ReadPath reads every manifest in path: a file, "-" for standard input, or a
// folder (its *.yaml, *.yml and *.json files, recursively, in name order).
func ReadPath(path string) ([]Object, error) {
	if path == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return Parse(b, "-")
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return Parse(b, path)
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", path)
	}
	sort.Strings(files)
	var out []Object
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs, err := Parse(b, f)
		out = append(out, objs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Parse splits data (YAML documents or JSON values) into objects. Lists are
// flattened; empty documents are skipped. Errors name file and line; the
// objects that could be read are returned with them.
func Parse(data []byte, file string) ([]Object, error) {
	var out []Object
	var errs []error
	for _, d := range splitDocuments(data) {
		js, err := toJSON(d.body)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, d.line, err))
			continue
		}
		if js == nil {
			continue
		}
		objs, err := flatten(js, file, d.line)
		out = append(out, objs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

type document struct {
	body []byte
	line int
}

// splitDocuments splits YAML at "---" lines, or a JSON stream at value
// boundaries.
func splitDocuments(data []byte) []document {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		dec := json.NewDecoder(bytes.NewReader(data))
		var docs []document
		for {
			start := int(dec.InputOffset())
			for start < len(data) && strings.ContainsRune(" \t\r\n", rune(data[start])) {
				start++ // the value, or the error, is on the line after blanks
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if !errors.Is(err, io.EOF) {
					// Hand the rest to the YAML path, which reports the error.
					docs = append(docs, document{data[start:], lineAt(data, start)})
				}
				return docs
			}
			docs = append(docs, document{raw, lineAt(data, start)})
		}
	}
	var docs []document
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var cur bytes.Buffer
	start, line := 1, 0
	for sc.Scan() {
		line++
		l := sc.Bytes()
		if isSeparator(l) {
			docs = append(docs, document{append([]byte(nil), cur.Bytes()...), start})
			cur.Reset()
			start = line + 1
			continue
		}
		cur.Write(l)
		cur.WriteByte('\n')
	}
	docs = append(docs, document{cur.Bytes(), start})
	return docs
}

// isSeparator reports whether l is a document marker: "---", alone or
// followed by a comment ("--- # next").
func isSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	rest := l[3:]
	t := bytes.TrimSpace(rest)
	return len(t) == 0 || (rest[0] == ' ' || rest[0] == '\t') && t[0] == '#'
}

func lineAt(b []byte, off int) int { return bytes.Count(b[:off], []byte{'\n'}) + 1 }

func toJSON(body []byte) ([]byte, error) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil, nil
	}
	if t[0] == '{' || t[0] == '[' {
		if !json.Valid(t) {
			var v any
			err := json.Unmarshal(t, &v)
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		return t, nil
	}
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %v", err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil // a document of comments only
	}
	return js, nil
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func flatten(js []byte, file string, line int) ([]Object, error) {
	if len(js) > 0 && js[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(js, &items); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, line, err)
		}
		return flattenItems(items, file, line)
	}
	var h header
	if err := json.Unmarshal(js, &h); err != nil {
		return nil, fmt.Errorf("%s:%d: not a Kubernetes object: %v", file, line, err)
	}
	if strings.HasSuffix(h.Kind, "List") && h.Items != nil {
		return flattenItems(h.Items, file, line)
	}
	if h.Kind == "" {
		return nil, fmt.Errorf("%s:%d: missing field \"kind\"", file, line)
	}
	return []Object{{File: file, Line: line, APIVersion: h.APIVersion, Kind: h.Kind,
		Name: h.Metadata.Name, Namespace: h.Metadata.Namespace, JSON: js}}, nil
}

func flattenItems(items []json.RawMessage, file string, line int) ([]Object, error) {
	out := make([]Object, 0, len(items))
	var errs []error
	for i, it := range items {
		objs, err := flatten(it, file, line)
		if err != nil {
			errs = append(errs, fmt.Errorf("item %d: %w", i, err))
			continue
		}
		out = append(out, objs...)
	}
	return out, errors.Join(errs...)
}
