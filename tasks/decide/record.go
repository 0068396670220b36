package decide

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/policy"
	"github.com/pulsegate/pulsegate/tasks"
	"github.com/pulsegate/pulsegate/tasks/gate"
)

// ManifestVersion is the version of manifest.json this package writes.
const ManifestVersion = 1

// Manifest is DIR/manifest.json: the gate's parameters, with every path
// relative to DIR. Original holds the paths the gate read, by recorded path,
// so that a replay reports them as the original run did.
type Manifest struct {
	Version     int               `json:"version"`
	DecisionID  string            `json:"decision_id"`
	Now         string            `json:"now"`
	Release     string            `json:"release"`
	Inventory   string            `json:"inventory"`
	Policy      string            `json:"policy,omitempty"`
	Model       string            `json:"model,omitempty"`
	BreakGlass  string            `json:"break_glass,omitempty"`
	Config      string            `json:"config,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Cluster     string            `json:"cluster,omitempty"`
	Mode        string            `json:"mode,omitempty"`
	Environment string            `json:"environment,omitempty"`
	FailMode    string            `json:"fail_mode,omitempty"`
	Telemetry   []Telemetry       `json:"telemetry"`
	Original    map[string]string `json:"original"`
}

// Telemetry is one recorded source. Path is empty when the source could not
// be read: a replay finds it unavailable again.
type Telemetry struct {
	Name     string `json:"name,omitempty"`
	Type     string `json:"type"`
	Path     string `json:"path"`
	MaxAge   string `json:"max_age,omitempty"`
	FailMode string `json:"fail_mode,omitempty"`
	Cluster  string `json:"cluster,omitempty"`
}

// Record copies every file the gate read into dir and writes
// manifest.json, input.json (the policy input, for `pulsegate decide` and
// policy tests) and decision.json. Inputs read from stdin cannot be
// recorded.
func Record(dir string, p gate.Params, in policy.Input, d *policy.Decision) error {
	for _, path := range []string{p.Release, p.Inventory} {
		if path == "-" {
			return tasks.Usage(errors.New("--record cannot copy an input read from stdin; give a file"))
		}
	}
	for _, t := range p.Telemetry {
		if t.Path == "-" {
			return tasks.Usage(errors.New("--record cannot copy telemetry read from stdin; give a file"))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	m := Manifest{Version: ManifestVersion, DecisionID: d.DecisionID, Now: timeOrZero(d.Time),
		Namespace: p.Namespace, Cluster: p.Cluster, Mode: string(d.Mode), Environment: p.Environment, FailMode: p.FailMode,
		Original: map[string]string{}}
	var err error
	cp := func(src, name string) string {
		if err != nil || src == "" {
			return ""
		}
		if e := copyPath(src, filepath.Join(dir, name)); e != nil {
			err = fmt.Errorf("record %s: %w", src, e)
			return ""
		}
		m.Original[name] = src
		return name
	}
	m.Release = cp(p.Release, "release"+ext(p.Release))
	m.Inventory = cp(p.Inventory, "inventory"+ext(p.Inventory))
	m.Policy = cp(p.Policy, "policy.yaml")
	m.Model = cp(p.Model, "model"+ext(p.Model))
	m.BreakGlass = cp(p.BreakGlass, "break-glass.yaml")
	m.Config = cp(p.Config, "config.yaml")
	for i, t := range p.Telemetry {
		name := d.Sources[i].Name
		rt := Telemetry{Name: name, Type: t.Type, FailMode: t.FailMode, Cluster: t.Cluster}
		if t.MaxAge > 0 {
			rt.MaxAge = t.MaxAge.String()
		}
		if _, statErr := os.Stat(t.Path); statErr == nil {
			rt.Path = cp(t.Path, filepath.Join("telemetry", fmt.Sprintf("%02d-%s%s", i, safe(name), ext(t.Path))))
		} else {
			// Unreadable: the replay must find it unreadable too, under
			// the original path's name.
			rt.Path = filepath.Join("telemetry", fmt.Sprintf("%02d-%s.unavailable", i, safe(name)))
			m.Original[rt.Path] = t.Path
		}
		m.Telemetry = append(m.Telemetry, rt)
	}
	if err != nil {
		return err
	}
	for name, v := range map[string]any{"manifest.json": m, "input.json": in, "decision.json": d} {
		if err := writeJSON(filepath.Join(dir, name), v); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	return nil
}

func ext(path string) string {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		return ""
	}
	return filepath.Ext(path)
}

func safe(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == 0 {
			return '_'
		}
		return r
	}, name)
}

// copyPath copies a file, or a folder's tree, to dst.
func copyPath(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return copyFile(src, dst)
	}
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Result is what a replay found.
type Result struct {
	// Recorded and Replayed are the two decisions.
	Recorded, Replayed *policy.Decision
	// Differences lists what differs, for people; empty when the replay
	// decided the same.
	Differences []string
}

// Same reports whether the replay decided the same.
func (r *Result) Same() bool { return len(r.Differences) == 0 }

// Replay re-runs the gate on the inputs recorded in dir and compares the
// result with the decision at decisionPath: the digest of every input, the
// verdict, the reasons, the warnings and the decision id.
func Replay(decisionPath, dir string, env gate.Env) (*Result, error) {
	var rec policy.Decision
	b, err := os.ReadFile(decisionPath)
	if err != nil {
		return nil, tasks.Usage(fmt.Errorf("read decision: %w", err))
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, tasks.Usage(fmt.Errorf("decision %s: %w", decisionPath, jsonError(b, err)))
	}
	if rec.DecisionID == "" || rec.Inputs == nil {
		return nil, tasks.Usage(fmt.Errorf("decision %s: no decision_id or inputs: not a pulsegate decision", decisionPath))
	}
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, tasks.Usage(fmt.Errorf("read record: %w (record one with `pulsegate gate --record DIR`)", err))
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, tasks.Usage(fmt.Errorf("record %s: manifest.json: %w", dir, jsonError(mb, err)))
	}
	if m.Version != ManifestVersion {
		return nil, tasks.Usage(fmt.Errorf("record %s: manifest version %d, this pulsegate reads %d", dir, m.Version, ManifestVersion))
	}
	p, err := m.params(dir)
	if err != nil {
		return nil, tasks.Usage(fmt.Errorf("record %s: %w", dir, err))
	}
	d, err := gate.Run(p, env)
	if err != nil {
		return nil, err
	}
	restorePaths(d, dir, m.Original)
	return &Result{Recorded: &rec, Replayed: d, Differences: compare(&rec, d)}, nil
}

func (m *Manifest) params(dir string) (gate.Params, error) {
	at := func(rel string) string {
		if rel == "" {
			return ""
		}
		return filepath.Join(dir, rel)
	}
	p := gate.Params{Release: at(m.Release), Inventory: at(m.Inventory), Policy: at(m.Policy), Model: at(m.Model),
		BreakGlass: at(m.BreakGlass), Config: at(m.Config), Namespace: m.Namespace, Cluster: m.Cluster, Mode: m.Mode,
		Environment: m.Environment, FailMode: m.FailMode}
	if m.Release == "" || m.Inventory == "" {
		return p, errors.New("manifest.json names no release or inventory")
	}
	t, err := time.Parse(time.RFC3339Nano, m.Now)
	if err != nil {
		return p, fmt.Errorf("manifest.json: now: %w", err)
	}
	p.Now = t
	for _, rt := range m.Telemetry {
		gt := gate.Telemetry{Name: rt.Name, Type: rt.Type, Path: at(rt.Path), FailMode: rt.FailMode, Cluster: rt.Cluster}
		if rt.MaxAge != "" {
			if gt.MaxAge, err = time.ParseDuration(rt.MaxAge); err != nil {
				return p, fmt.Errorf("manifest.json: telemetry %s: max_age: %w", rt.Name, err)
			}
		}
		p.Telemetry = append(p.Telemetry, gt)
	}
	return p, nil
}

// restorePaths writes the original paths where the replay read copies, so
// that evidence ("FILE:LINE") and messages read as in the original run.
func restorePaths(d *policy.Decision, dir string, orig map[string]string) {
	type pair struct{ from, to string }
	var pairs []pair
	for rel, o := range orig {
		pairs = append(pairs, pair{filepath.Join(dir, rel), o})
	}
	// Longest first, so that "telemetry/01-x" wins over a prefix.
	sort.Slice(pairs, func(i, j int) bool { return len(pairs[i].from) > len(pairs[j].from) })
	fix := func(s string) string {
		for _, p := range pairs {
			s = strings.ReplaceAll(s, p.from, p.to)
		}
		return s
	}
	fixReasons := func(rs []policy.Reason) {
		for i := range rs {
			rs[i].Message = fix(rs[i].Message)
			for j := range rs[i].Evidence {
				rs[i].Evidence[j].Raw = fix(rs[i].Evidence[j].Raw)
			}
		}
	}
	d.Summary = fix(d.Summary)
	fixReasons(d.Reasons)
	if d.BreakGlass != nil {
		fixReasons(d.BreakGlass.Overridden)
	}
	for i := range d.Warnings {
		d.Warnings[i] = fix(d.Warnings[i])
	}
	for i := range d.Sources {
		d.Sources[i].Detail = fix(d.Sources[i].Detail)
	}
}

// compare lists the differences between two decisions, inputs first: a
// differing input explains everything after it.
func compare(a, b *policy.Decision) []string {
	var out []string
	keys := map[string]bool{}
	for k := range a.Inputs {
		keys[k] = true
	}
	for k := range b.Inputs {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if a.Inputs[k] != b.Inputs[k] {
			out = append(out, fmt.Sprintf("input %s: recorded %s, replayed %s", k, orNone(a.Inputs[k]), orNone(b.Inputs[k])))
		}
	}
	if a.Verdict != b.Verdict {
		out = append(out, fmt.Sprintf("verdict: recorded %s, replayed %s", a.Verdict, b.Verdict))
	}
	if a.Mode != b.Mode {
		out = append(out, fmt.Sprintf("mode: recorded %s, replayed %s", a.Mode, b.Mode))
	}
	ja, _ := json.Marshal(a.Reasons)
	jb, _ := json.Marshal(b.Reasons)
	if string(ja) != string(jb) {
		out = append(out, "reasons:\n"+diffReasons(a.Reasons, b.Reasons))
	}
	if strings.Join(a.Warnings, "\n") != strings.Join(b.Warnings, "\n") {
		out = append(out, fmt.Sprintf("warnings: recorded %q, replayed %q", a.Warnings, b.Warnings))
	}
	if a.DecisionID != b.DecisionID {
		out = append(out, fmt.Sprintf("decision id: recorded %s, replayed %s", a.DecisionID, b.DecisionID))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// diffReasons shows reasons as "- recorded" and "+ replayed" lines.
func diffReasons(a, b []policy.Reason) string {
	line := func(r policy.Reason) string {
		j, _ := json.Marshal(r.Evidence)
		return fmt.Sprintf("[%s] %s %s", r.Rule, r.Message, j)
	}
	var sb strings.Builder
	for i := 0; i < len(a) || i < len(b); i++ {
		var la, lb string
		if i < len(a) {
			la = line(a[i])
		}
		if i < len(b) {
			lb = line(b[i])
		}
		if la == lb {
			fmt.Fprintf(&sb, "    %s\n", la)
			continue
		}
		if la != "" {
			fmt.Fprintf(&sb, "  - %s\n", la)
		}
		if lb != "" {
			fmt.Fprintf(&sb, "  + %s\n", lb)
		}
	}
	return strings.TrimRight(sb.String(), "\n")
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}
