package source

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// SplitFunc splits an input into records as ReadRecords does: fn sees each
// record, reject each part that is not one; only an I/O error or an error
// from fn stops it. unwrap is the Spec's Unwrap.
type SplitFunc func(r io.Reader, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error

// ReadRecords splits r with s.Split when the type has one, else with the
// package's ReadRecords, passing s.Unwrap on.
func (s Spec) ReadRecords(r io.Reader, file string, fn func(Record) error, reject func(Reject)) error {
	if reject == nil {
		reject = func(Reject) {}
	}
	if s.Split != nil {
		return s.Split(r, file, s.Unwrap, fn, reject)
	}
	return ReadRecords(r, file, s.Unwrap, fn, reject)
}

// firstContent returns the first byte of data that is not blank, a byte
// order mark, or part of a '#' comment line; 0 when there is none.
func firstContent(data []byte) byte {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		t := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(line), []byte("\ufeff")))
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		return t[0]
	}
	return 0
}

// SplitYAML reads JSON as ReadRecords does, and anything else as YAML
// documents separated by "---" lines (what `kubectl get -o yaml` writes).
// Each YAML document is converted to JSON with sigs.k8s.io/yaml and then
// split like a JSON document (a Kubernetes List into its items); a
// document's records carry the line where each item starts when the
// document holds one list of them (a List's items, a findings list),
// else the document's first line. A document that is not valid
// YAML is rejected with the line the YAML parser names, and the documents
// after it are still read.
func SplitYAML(r io.Reader, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
	data, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	if c := firstContent(data); c == '{' || c == '[' {
		return ReadRecords(bytes.NewReader(data), file, unwrap, fn, reject)
	}
	for _, d := range yamlDocuments(data) {
		js, err := yaml.YAMLToJSON(d.body)
		if err != nil {
			line, msg := yamlErrorLine(err, d.line)
			reject(Reject{file, line, "invalid YAML: " + msg})
			continue
		}
		js = bytes.TrimSpace(js)
		if len(js) == 0 || string(js) == "null" {
			continue // empty, or only comments
		}
		if js[0] != '{' && js[0] != '[' {
			reject(Reject{file, d.line, "not a YAML mapping"})
			continue
		}
		line := d.line
		var recs []Record
		err = ReadRecords(bytes.NewReader(js), file, unwrap, func(rec Record) error {
			recs = append(recs, rec)
			return nil
		}, func(x Reject) {
			x.Line = line
			reject(x)
		})
		if err != nil {
			return err
		}
		lines := yamlItemLines(d.body, line, len(recs))
		for i, rec := range recs {
			rec.Line = line
			if lines != nil {
				rec.Line = lines[i]
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlItemLines returns the file line of each of the n items of a YAML
// document that starts at line: the entries of the document's sequence
// (a top-level one, or the one value of a top-level mapping with exactly
// n entries, "items" first). It returns nil when n < 2 or no sequence
// fits; the records then keep the document's line.
func yamlItemLines(body []byte, line, n int) []int {
	if n < 2 {
		return nil
	}
	var doc yamlv3.Node
	if yamlv3.Unmarshal(body, &doc) != nil || len(doc.Content) != 1 {
		return nil
	}
	root := doc.Content[0]
	var seq *yamlv3.Node
	switch root.Kind {
	case yamlv3.SequenceNode:
		seq = root
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			if v.Kind != yamlv3.SequenceNode || len(v.Content) != n {
				continue
			}
			if seq == nil || k.Value == "items" {
				seq = v
			}
		}
	}
	if seq == nil || len(seq.Content) != n {
		return nil
	}
	out := make([]int, n)
	for i, it := range seq.Content {
		if it.Line < 1 {
			return nil
		}
		out[i] = line + it.Line - 1
	}
	return out
}

type yamlDoc struct {
	body []byte
	line int
}

// yamlDocuments splits data at "---" lines (alone or followed by a comment).
func yamlDocuments(data []byte) []yamlDoc {
	var docs []yamlDoc
	start, line := 0, 1
	first := 1
	for off := 0; off <= len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data) + 1
		if end >= 0 {
			end += off
			next = end + 1
		} else {
			end = len(data)
		}
		l := bytes.TrimRight(data[off:end], "\r")
		if isDocSeparator(l) {
			docs = append(docs, yamlDoc{data[start:off], first})
			start, first = min(next, len(data)), line+1
		}
		off = next
		line++
	}
	if start < len(data) {
		docs = append(docs, yamlDoc{data[start:], first})
	}
	return docs
}

func isDocSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	rest := l[3:]
	t := bytes.TrimSpace(rest)
	return len(t) == 0 || (rest[0] == ' ' || rest[0] == '\t') && t[0] == '#'
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlErrorLine turns the YAML parser's document-relative "line N" into a
// line of the file, and trims the converter's prefix from the message.
func yamlErrorLine(err error, docLine int) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	m := yamlLineRE.FindStringSubmatchIndex(msg)
	if m == nil {
		return docLine, msg
	}
	n, convErr := strconv.Atoi(msg[m[2]:m[3]])
	if convErr != nil || n < 1 {
		return docLine, msg
	}
	abs := docLine + n - 1
	return abs, msg[:m[2]] + strconv.Itoa(abs) + msg[m[3]:]
}

// CSVOptions configures SplitCSV.
type CSVOptions struct {
	// Required lists the header columns that must be present.
	Required []string
	// Comment, when set, reads a '#' line before the header (its text
	// after '#') into fields added to every record, or returns an error
	// that rejects that line. Without it, such lines are skipped.
	Comment func(text string) (map[string]string, error)
}

// SplitCSV returns a SplitFunc for CSV files with a header row: every
// later row becomes a record holding a JSON object of header name to value
// (all strings), plus the fields that opt.Comment read. A JSON input (the
// first content is '{' or '[') is read as ReadRecords does instead, so that
// a source can take both forms. A header without a required column rejects
// the header line and every row after it; a row that is not valid CSV is
// rejected with its line.
func SplitCSV(opt CSVOptions) SplitFunc {
	return func(r io.Reader, file string, unwrap UnwrapFunc, fn func(Record) error, reject func(Reject)) error {
		br := bufio.NewReaderSize(r, 64<<10)
		peek, err := br.Peek(4096)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("read %s: %w", file, err)
		}
		if c := firstContent(peek); c == '{' || c == '[' {
			return ReadRecords(br, file, unwrap, fn, reject)
		}
		return splitCSV(br, file, opt, fn, reject)
	}
}

func splitCSV(br *bufio.Reader, file string, opt CSVOptions, fn func(Record) error, reject func(Reject)) error {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3) // a byte order mark
	}
	extra := map[string]string{}
	line := 0
	// Comment and blank lines before the header.
	for {
		b, err := br.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read %s: %w", file, err)
		}
		if b[0] != '#' && b[0] != '\n' && b[0] != '\r' {
			break
		}
		l, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", file, err)
		}
		line++
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "#") && opt.Comment != nil {
			kv, cerr := opt.Comment(strings.TrimPrefix(t, "#"))
			if cerr != nil {
				reject(Reject{file, line, cerr.Error()})
			}
			for k, v := range kv {
				extra[k] = v
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
	return splitCSVBody(br, file, line, opt, extra, fn, reject)
}

func splitCSVBody(r io.Reader, file string, offset int, opt CSVOptions, extra map[string]string, fn func(Record) error, reject func(Reject)) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	headerLine := offset + 1
	if err != nil {
		return rejectRest(cr, file, offset, headerLine, "invalid CSV header: "+csvReason(err), reject)
	}
	header = append([]string(nil), header...)
	var missing []string
	for _, want := range opt.Required {
		found := false
		for _, h := range header {
			if strings.TrimSpace(h) == want {
				found = true
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return rejectRest(cr, file, offset, headerLine, fmt.Sprintf("CSV header %q lacks column %s", strings.Join(header, ","), strings.Join(missing, ", ")), reject)
	}
	obj := make(map[string]string, len(header)+len(extra))
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				reject(Reject{file, offset + pe.Line, "invalid CSV: " + csvReason(err)})
				return nil // the reader cannot find the next row reliably
			}
			return fmt.Errorf("read %s: %w", file, err)
		}
		l, _ := cr.FieldPos(0)
		line := offset + l
		if len(row) != len(header) {
			reject(Reject{file, line, fmt.Sprintf("row has %d fields, the header %d", len(row), len(header))})
			continue
		}
		clear(obj)
		for k, v := range extra {
			obj[k] = v
		}
		for i, h := range header {
			obj[strings.TrimSpace(h)] = row[i]
		}
		js, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		if err := fn(Record{Data: js, File: file, Line: line}); err != nil {
			return err
		}
	}
}

// rejectRest rejects the header and every row after it.
func rejectRest(cr *csv.Reader, file string, offset, headerLine int, reason string, reject func(Reject)) error {
	reject(Reject{file, headerLine, reason})
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return fmt.Errorf("read %s: %w", file, err)
		}
		if err != nil {
			// FieldCount cannot happen (FieldsPerRecord is -1); the
			// reader cannot find the next row after a quote error.
			reject(Reject{file, offset + pe.Line, "invalid CSV: " + csvReason(err)})
			return nil
		}
		l, _ := cr.FieldPos(0)
		reject(Reject{file, offset + l, fmt.Sprintf("row after an unusable header (line %d)", headerLine)})
	}
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
