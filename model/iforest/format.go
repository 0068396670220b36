package iforest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// The saved model is one JSON object (see Save). FormatName and FormatVersion
// identify it; Load rejects other names and versions.
const (
	FormatName    = "pulsegate.iforest"
	FormatVersion = 1
)

// maxFileSize bounds what Load reads, so a hostile stream cannot exhaust memory.
const maxFileSize = 1 << 30

type fileModel struct {
	Format   string       `json:"format"`
	Version  int          `json:"version"`
	Schema   fileSchema   `json:"schema"`
	Params   fileParams   `json:"params"`
	Training fileTraining `json:"training"`
	Trees    []fileTree   `json:"trees"`
	// Checksum is "sha256:" and the hex SHA-256 of the file's JSON encoding with
	// this field empty, as encoding/json writes it (fields in this order, no
	// indentation, shortest round-tripping numbers).
	Checksum string `json:"checksum"`
}

type fileSchema struct {
	Features []string `json:"features"`
}

type fileParams struct {
	Trees       int    `json:"trees"`
	MaxSamples  int    `json:"max_samples"`
	HeightLimit int    `json:"height_limit"`
	Seed        uint64 `json:"seed,string"`
	Extended    bool   `json:"extended"`
}

type fileTraining struct {
	Rows           int        `json:"rows"`
	Window         Window     `json:"window"`
	ScoreQuantiles []Quantile `json:"score_quantiles"`
}

// fileTree is tree with JSON names. Normal is present for extended trees only.
type fileTree struct {
	Feature   []int32   `json:"feature"`
	Threshold []float64 `json:"threshold"`
	Left      []int32   `json:"left"`
	Size      []int32   `json:"size"`
	Normal    []float64 `json:"normal,omitempty"`
}

// Save writes the forest as one JSON object of format FormatName, version
// FormatVersion: the feature schema, the parameters, the training metadata
// (rows, data window, score quantiles), every tree's nodes, and a SHA-256
// checksum that Load verifies.
func (f *Forest) Save(w io.Writer) error {
	b, _, err := f.encode()
	if err != nil {
		return fmt.Errorf("iforest: save: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("iforest: save: %w", err)
	}
	return nil
}

// Checksum returns the checksum Save writes, "sha256:" and 64 hex digits: a
// digest of the whole model, parameters and schema included, that identifies
// it in decisions and reports.
func (f *Forest) Checksum() string {
	f.sumOnce.Do(func() {
		_, sum, err := f.encode()
		if err != nil {
			panic("iforest: " + err.Error()) // unreachable: a forest always encodes
		}
		f.checksum = sum
	})
	return f.checksum
}

func (f *Forest) encode() ([]byte, string, error) {
	m := fileModel{
		Format:  FormatName,
		Version: FormatVersion,
		Schema:  fileSchema{Features: f.p.features},
		Params: fileParams{
			Trees: f.p.trees, MaxSamples: f.p.maxSamples, HeightLimit: f.p.height,
			Seed: f.p.seed, Extended: f.p.extended,
		},
		Training: fileTraining{Rows: f.meta.rows, Window: f.meta.window, ScoreQuantiles: f.meta.quantiles},
		Trees:    make([]fileTree, len(f.trees)),
	}
	for i, t := range f.trees {
		m.Trees[i] = fileTree{Feature: t.feature, Threshold: t.threshold, Left: t.left, Size: t.size, Normal: t.normal}
	}
	sum, err := checksum(&m)
	if err != nil {
		return nil, "", err
	}
	m.Checksum = sum
	b, err := json.Marshal(&m)
	if err != nil {
		return nil, "", err
	}
	return append(b, '\n'), sum, nil
}

func checksum(m *fileModel) (string, error) {
	saved := m.Checksum
	m.Checksum = ""
	b, err := json.Marshal(m)
	m.Checksum = saved
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:]), nil
}

// Load reads a forest that Save wrote. It rejects, with an error that says
// why, anything else: another format or version, unknown fields, a checksum
// that does not match the content, or trees that are not well formed.
func Load(r io.Reader) (*Forest, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("iforest: load: %w", err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("iforest: load: larger than %d bytes", maxFileSize)
	}
	f, err := decode(b, true)
	if err != nil {
		return nil, fmt.Errorf("iforest: load: %w", err)
	}
	return f, nil
}

// decode parses a saved model; verify false skips only the checksum (for the
// fuzz test, which must reach the checks behind it).
func decode(b []byte, verify bool) (*Forest, error) {
	var m fileModel
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the model object")
	}
	if m.Format != FormatName {
		return nil, fmt.Errorf("format %q, want %q", m.Format, FormatName)
	}
	if m.Version != FormatVersion {
		return nil, fmt.Errorf("format version %d, this build reads %d", m.Version, FormatVersion)
	}
	if verify {
		sum, err := checksum(&m)
		if err != nil {
			return nil, err
		}
		if m.Checksum != sum {
			return nil, fmt.Errorf("checksum %q does not match the content (%s): the file is corrupt or was edited", m.Checksum, sum)
		}
	}
	d := len(m.Schema.Features)
	p := params{
		trees: m.Params.Trees, maxSamples: m.Params.MaxSamples, height: m.Params.HeightLimit,
		seed: m.Params.Seed, extended: m.Params.Extended, features: m.Schema.Features,
	}
	var errs []error
	if d == 0 {
		errs = append(errs, errors.New("schema has no features"))
	}
	if err := checkNames(m.Schema.Features); err != nil {
		errs = append(errs, err)
	}
	if p.trees < 1 || p.trees > MaxTrees || p.trees != len(m.Trees) {
		errs = append(errs, fmt.Errorf("params say %d trees, the file has %d (at most %d)", p.trees, len(m.Trees), MaxTrees))
	}
	if p.maxSamples < 2 || p.maxSamples > 1<<MaxHeight || p.height != heightLimit(p.maxSamples) {
		errs = append(errs, fmt.Errorf("max samples %d with height limit %d", p.maxSamples, p.height))
	}
	if m.Training.Rows < p.maxSamples {
		errs = append(errs, fmt.Errorf("%d training rows, fewer than max samples %d", m.Training.Rows, p.maxSamples))
	}
	for i, q := range m.Training.ScoreQuantiles {
		if !(q.Q >= 0 && q.Q <= 1) || math.IsNaN(q.Score) || math.IsInf(q.Score, 0) {
			errs = append(errs, fmt.Errorf("score quantile %d: %v at %v", i, q.Score, q.Q))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	trees := make([]tree, len(m.Trees))
	for i, t := range m.Trees {
		trees[i] = tree{feature: t.Feature, threshold: t.Threshold, left: t.Left, size: t.Size, normal: t.Normal}
	}
	return newForest(p, d, trees, training{rows: m.Training.Rows, window: m.Training.Window, quantiles: m.Training.ScoreQuantiles})
}
