// Package kev reads CISA's Known Exploited Vulnerabilities catalogue, as
// JSON (known_exploited_vulnerabilities.json) or CSV
// (known_exploited_vulnerabilities.csv). It is an enrichment catalogue, not
// telemetry, and offers two views of it:
//
//   - Load returns a Catalog for pkg/risk: Contains(cve), Lookup(cve) and the
//     catalogue's date, so that a stale catalogue can be told apart from a
//     quiet one.
//   - Spec registers the catalogue as a source type, so that `pulsegate
//     normalize --type kev` and the freshness machinery see it: every entry
//     becomes one Informational OCSF Vulnerability Finding (2002) with the
//     CVE, dated dateAdded, about no asset.
//
// Field mapping (the JSON names; the CSV header uses the same):
//
//	cveID                         -> CVEs, Raw.ID
//	dateAdded (YYYY-MM-DD, UTC)   -> Signal.Time
//	vulnerabilityName             -> Title
//	vendorProject, product, dueDate, knownRansomwareCampaignUse, cwes
//	                              -> attrs vendor, product, due_date, ransomware, cwes
package kev

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Spec registers the catalogue as a source: JSON (the catalogue document
// is split into its vulnerabilities) or CSV.
var Spec = source.Spec{
	Type:    "kev",
	Product: "CISA KEV",
	Summary: "CISA Known Exploited Vulnerabilities catalogue (JSON or CSV), one Signal per entry",
	New:     func() source.Parser { return &Parser{} },
	Unwrap:  Unwrap,
	Split:   source.SplitCSV(source.CSVOptions{Required: []string{"cveID", "dateAdded"}}),
}

// Entry is one catalogue entry.
type Entry struct {
	CVE           string    // upper case, e.g. CVE-2024-3094
	VendorProject string    // "Palo Alto Networks"
	Product       string    // "PAN-OS"
	Name          string    // vulnerabilityName
	DateAdded     time.Time // UTC midnight of the day CISA added it
	DueDate       time.Time // zero when absent
	Ransomware    bool      // knownRansomwareCampaignUse is "Known"
	CWEs          []string
}

// Catalog is a loaded catalogue. The zero value is empty.
type Catalog struct {
	// Version is catalogVersion ("2025.08.25"); empty for CSV.
	Version string
	// Released is dateReleased; for CSV, which has no such field, the
	// newest dateAdded.
	Released time.Time
	entries  map[string]Entry
}

// Contains reports whether cve (any case) is in the catalogue.
func (c *Catalog) Contains(cve string) bool {
	_, ok := c.Lookup(cve)
	return ok
}

// Lookup returns the entry for cve (any case).
func (c *Catalog) Lookup(cve string) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	e, ok := c.entries[strings.ToUpper(strings.TrimSpace(cve))]
	return e, ok
}

// Len is the number of entries.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.entries)
}

// Date is the catalogue's date: Released.
func (c *Catalog) Date() time.Time { return c.Released }

type raw struct {
	CVEID             string          `json:"cveID"`
	VendorProject     string          `json:"vendorProject"`
	Product           string          `json:"product"`
	VulnerabilityName string          `json:"vulnerabilityName"`
	DateAdded         string          `json:"dateAdded"`
	DueDate           string          `json:"dueDate"`
	Ransomware        string          `json:"knownRansomwareCampaignUse"`
	CWEs              json.RawMessage `json:"cwes"` // an array in JSON, "CWE-1, CWE-2" in CSV
}

type catalogDoc struct {
	Title           string            `json:"title"`
	CatalogVersion  string            `json:"catalogVersion"`
	DateReleased    string            `json:"dateReleased"`
	Count           *int              `json:"count"`
	Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
}

// Unwrap splits the catalogue document into its entries.
func Unwrap(doc []byte) ([]json.RawMessage, bool) {
	if !bytes.Contains(doc, []byte(`"vulnerabilities"`)) {
		return nil, false
	}
	var c catalogDoc
	if json.Unmarshal(doc, &c) != nil || c.Vulnerabilities == nil {
		return nil, false
	}
	return c.Vulnerabilities, true
}

func parseDate(field, v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("field %q: %q is not a date (YYYY-MM-DD)", field, v)
	}
	return source.CheckTime(field, t)
}

func (r *raw) entry() (Entry, error) {
	if r.CVEID == "" {
		return Entry{}, errors.New(`missing field "cveID"`)
	}
	if r.DateAdded == "" {
		return Entry{}, fmt.Errorf("%s: missing field \"dateAdded\"", r.CVEID)
	}
	added, err := parseDate("dateAdded", r.DateAdded)
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", r.CVEID, err)
	}
	e := Entry{CVE: strings.ToUpper(strings.TrimSpace(r.CVEID)), VendorProject: r.VendorProject, Product: r.Product,
		Name: r.VulnerabilityName, DateAdded: added, Ransomware: strings.EqualFold(r.Ransomware, "Known")}
	if r.DueDate != "" {
		if e.DueDate, err = parseDate("dueDate", r.DueDate); err != nil {
			return Entry{}, fmt.Errorf("%s: %w", r.CVEID, err)
		}
	}
	if len(r.CWEs) > 0 {
		switch r.CWEs[0] {
		case '[':
			if err := json.Unmarshal(r.CWEs, &e.CWEs); err != nil {
				return Entry{}, fmt.Errorf("%s: field \"cwes\": %s", r.CVEID, source.JSONReason(err))
			}
		case '"':
			var s string
			if err := json.Unmarshal(r.CWEs, &s); err != nil {
				return Entry{}, fmt.Errorf("%s: field \"cwes\": %v", r.CVEID, err)
			}
			for _, c := range strings.Split(s, ",") {
				if c = strings.TrimSpace(c); c != "" {
					e.CWEs = append(e.CWEs, c)
				}
			}
		}
	}
	return e, nil
}

// Load reads a whole catalogue, JSON or CSV, and fails on the first entry
// it cannot use, naming its line (CSV) or index (JSON) and field.
func Load(r io.Reader) (*Catalog, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	if t := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return loadJSON(br)
	}
	c := &Catalog{entries: map[string]Entry{}}
	var first error
	err := Spec.ReadRecords(br, "kev", func(rec source.Record) error {
		var x raw
		if err := json.Unmarshal(rec.Data, &x); err != nil {
			return fmt.Errorf("line %d: %s", rec.Line, source.JSONReason(err))
		}
		e, err := x.entry()
		if err != nil {
			return fmt.Errorf("line %d: %w", rec.Line, err)
		}
		c.add(e)
		return nil
	}, func(rj source.Reject) {
		if first == nil {
			first = fmt.Errorf("line %d: %s", rj.Line, rj.Reason)
		}
	})
	if err == nil {
		err = first
	}
	if err != nil {
		return nil, fmt.Errorf("read KEV catalogue: %w", err)
	}
	if c.Len() == 0 {
		return nil, errors.New("read KEV catalogue: no entries")
	}
	return c, nil
}

func (c *Catalog) add(e Entry) {
	c.entries[e.CVE] = e
	if e.DateAdded.After(c.Released) && c.Version == "" {
		c.Released = e.DateAdded
	}
}

func loadJSON(r io.Reader) (*Catalog, error) {
	var d catalogDoc
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("read KEV catalogue: %s", source.JSONReason(err))
	}
	if d.Vulnerabilities == nil {
		return nil, errors.New(`read KEV catalogue: missing field "vulnerabilities"`)
	}
	c := &Catalog{Version: d.CatalogVersion, entries: make(map[string]Entry, len(d.Vulnerabilities))}
	if d.DateReleased == "" {
		return nil, errors.New(`read KEV catalogue: missing field "dateReleased"`)
	}
	t, err := source.ParseTime("dateReleased", d.DateReleased)
	if err != nil {
		return nil, fmt.Errorf("read KEV catalogue: %w", err)
	}
	c.Released = t
	for i, v := range d.Vulnerabilities {
		var x raw
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, fmt.Errorf("read KEV catalogue: vulnerabilities[%d]: %s", i, source.JSONReason(err))
		}
		e, err := x.entry()
		if err != nil {
			return nil, fmt.Errorf("read KEV catalogue: vulnerabilities[%d]: %w", i, err)
		}
		c.entries[e.CVE] = e
	}
	if d.Count != nil && *d.Count != len(d.Vulnerabilities) {
		return nil, fmt.Errorf("read KEV catalogue: count is %d but %d vulnerabilities are listed", *d.Count, len(d.Vulnerabilities))
	}
	return c, nil
}

// Parser turns one catalogue entry into a Signal. The zero value is ready
// to use.
type Parser struct{}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var x raw
	if err := json.Unmarshal(rec.Data, &x); err != nil {
		return nil, fmt.Errorf("not a KEV entry: %s", source.JSONReason(err))
	}
	e, err := x.entry()
	if err != nil {
		return nil, err
	}
	s := signal.Signal{
		ID:       signal.MakeID("kev", rec.Data),
		Time:     e.DateAdded,
		Product:  "CISA KEV",
		ClassUID: signal.ClassVulnerabilityFinding,
		Severity: signal.SeverityInformational,
		Score:    signal.SeverityInformational.Score(),
		Rule:     "kev: known exploited vulnerability",
		Title:    e.Name,
		CVEs:     []string{e.CVE},
		Raw:      signal.RawRef{ID: e.CVE},
	}
	s.SetAttr("vendor", e.VendorProject)
	s.SetAttr("product", e.Product)
	if !e.DueDate.IsZero() {
		s.SetAttr("due_date", e.DueDate.Format(time.DateOnly))
	}
	s.SetAttr("ransomware", x.Ransomware)
	s.SetAttr("cwes", strings.Join(e.CWEs, ","))
	return []signal.Signal{s}, nil
}
