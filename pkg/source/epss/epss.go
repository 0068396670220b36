// Package epss reads FIRST's Exploit Prediction Scoring System daily file
// (epss_scores-YYYY-MM-DD.csv, uncompressed): a comment line
// "#model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000", then
// the header "cve,epss,percentile" and one row per CVE, both values on
// 0..1. It is an enrichment catalogue, not telemetry, and offers two views:
//
//   - Load returns a Catalog for pkg/risk: Score(cve) and the score date,
//     so that stale scores can be told apart.
//   - Spec registers the file as a source type, so that `pulsegate normalize
//     --type epss` and the freshness machinery see it: every row becomes
//     one Informational OCSF Vulnerability Finding (2002) with the CVE,
//     dated score_date, attrs epss and percentile, about no asset.
//
// A file without score_date in its comment line, or whose header lacks cve
// or epss, is an error: scores without a date cannot be judged fresh.
package epss

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Spec registers the scores as a source.
var Spec = source.Spec{
	Type:    "epss",
	Product: "FIRST EPSS",
	Summary: "FIRST EPSS daily scores (CSV with its #model_version,score_date line), one Signal per CVE",
	New:     func() source.Parser { return &Parser{} },
	Split:   source.SplitCSV(source.CSVOptions{Required: []string{"cve", "epss"}, Comment: ParseComment}),
}

// Score is one CVE's scores.
type Score struct {
	EPSS       float64 // probability of exploitation in the next 30 days, 0..1
	Percentile float64 // 0..1; 0 when the file has no percentile column
}

// Catalog is a loaded score file. The zero value is empty.
type Catalog struct {
	Model  string    // model_version, e.g. "v2023.03.01"
	Date   time.Time // score_date
	scores map[string]Score
}

// Score returns cve's scores (any case).
func (c *Catalog) Score(cve string) (Score, bool) {
	if c == nil {
		return Score{}, false
	}
	s, ok := c.scores[strings.ToUpper(strings.TrimSpace(cve))]
	return s, ok
}

// Len is the number of scored CVEs.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.scores)
}

// Layouts of score_date seen in EPSS files.
var layouts = []string{"2006-01-02T15:04:05-0700", time.RFC3339, time.DateOnly}

// ParseComment reads the "model_version:...,score_date:..." comment (the
// text after '#') into the fields model_version and score_date, with
// score_date as RFC 3339. Unknown keys are kept under their names.
func ParseComment(text string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "score_date" {
			t, err := parseDate(v)
			if err != nil {
				return nil, err
			}
			v = t.Format(time.RFC3339)
		}
		out[k] = v
	}
	return out, nil
}

func parseDate(v string) (time.Time, error) {
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return source.CheckTime("score_date", t)
		}
	}
	return time.Time{}, fmt.Errorf("field \"score_date\": %q is not a time", v)
}

type row struct {
	CVE          string `json:"cve"`
	EPSS         string `json:"epss"`
	Percentile   string `json:"percentile"`
	ScoreDate    string `json:"score_date"`
	ModelVersion string `json:"model_version"`
}

var errNoDate = errors.New(`missing score_date: the file's first line should be "#model_version:...,score_date:..."`)

func (r *row) read() (string, Score, time.Time, error) {
	if r.CVE == "" {
		return "", Score{}, time.Time{}, errors.New(`missing field "cve"`)
	}
	cve := strings.ToUpper(strings.TrimSpace(r.CVE))
	var s Score
	var err error
	if s.EPSS, err = prob("epss", r.EPSS); err != nil {
		return "", Score{}, time.Time{}, fmt.Errorf("%s: %w", cve, err)
	}
	if r.Percentile != "" {
		if s.Percentile, err = prob("percentile", r.Percentile); err != nil {
			return "", Score{}, time.Time{}, fmt.Errorf("%s: %w", cve, err)
		}
	}
	if r.ScoreDate == "" {
		return "", Score{}, time.Time{}, errNoDate
	}
	t, err := parseDate(r.ScoreDate)
	if err != nil {
		return "", Score{}, time.Time{}, err
	}
	return cve, s, t, nil
}

func prob(field, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 1 || f != f {
		return 0, fmt.Errorf("field %q: %q is not a probability in 0..1", field, v)
	}
	return f, nil
}

// Load reads a whole score file and fails on the first row it cannot use,
// naming its line and field.
func Load(r io.Reader) (*Catalog, error) {
	c := &Catalog{scores: map[string]Score{}}
	var first error
	err := Spec.ReadRecords(bufio.NewReader(r), "epss", func(rec source.Record) error {
		var x row
		if err := json.Unmarshal(rec.Data, &x); err != nil {
			return fmt.Errorf("line %d: %s", rec.Line, source.JSONReason(err))
		}
		cve, s, t, err := x.read()
		if err != nil {
			return fmt.Errorf("line %d: %w", rec.Line, err)
		}
		c.scores[cve] = s
		c.Date, c.Model = t, x.ModelVersion
		return nil
	}, func(rj source.Reject) {
		if first == nil {
			first = fmt.Errorf("line %d: %s", rj.Line, rj.Reason)
		}
	})
	if first != nil {
		err = first // a bad header comes before the rows it spoils
	}
	if err != nil {
		return nil, fmt.Errorf("read EPSS scores: %w", err)
	}
	if c.Len() == 0 {
		return nil, errors.New("read EPSS scores: no rows")
	}
	return c, nil
}

// Parser turns one row into a Signal. The zero value is ready to use.
type Parser struct{}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var x row
	if err := json.Unmarshal(rec.Data, &x); err != nil {
		return nil, fmt.Errorf("not an EPSS row: %s", source.JSONReason(err))
	}
	cve, sc, t, err := x.read()
	if err != nil {
		return nil, err
	}
	s := signal.Signal{
		ID:       signal.MakeID("epss", rec.Data),
		Time:     t,
		Product:  "FIRST EPSS",
		ClassUID: signal.ClassVulnerabilityFinding,
		Severity: signal.SeverityInformational,
		Score:    signal.SeverityInformational.Score(),
		Rule:     "epss: score",
		Title:    fmt.Sprintf("%s: EPSS %s (percentile %s)", cve, x.EPSS, x.Percentile),
		CVEs:     []string{cve},
		Raw:      signal.RawRef{ID: cve},
	}
	s.SetAttr("epss", strconv.FormatFloat(sc.EPSS, 'g', -1, 64))
	if x.Percentile != "" {
		s.SetAttr("percentile", strconv.FormatFloat(sc.Percentile, 'g', -1, 64))
	}
	s.SetAttr("model_version", x.ModelVersion)
	return []signal.Signal{s}, nil
}
