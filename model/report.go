package model

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/pulsegate/pulsegate/pkg/feature"
)

// RiskFrom is the anomaly score above which the gate adds risk points
// (pkg/risk: the anomaly part grows linearly from 0 at 0.5 to its maximum
// at 1). The report marks it as the decision threshold.
const RiskFrom = 0.5

// Files the report writes into its folder.
const (
	ReportFile   = "report.md"
	ScoresPNG    = "scores.png"
	FeaturesPNG  = "features.png"
	topWindows   = 10
	histogramBin = 40
)

// Report is what a training run reports.
type Report struct {
	// Model is where the model was written; Outcome is "promoted",
	// "rejected", "first model" or "written", and Reason says why.
	Model, Outcome, Reason string
	Trained                *Trained
	// Window is the training windows' length.
	Window time.Duration
	// Comparison is the promotion check, nil when none ran.
	Comparison *Comparison
	// Inputs names what the history was read from (files, a store).
	Inputs []string
	// Elapsed is how long the run took.
	Elapsed time.Duration
}

// WriteReport writes report.md and its PNG plots into dir (created when
// missing) and returns the files' paths. The Markdown links the plots by
// relative name, so the folder can be published as it is (an Argo or
// Tekton artifact, a PR comment's attachment).
func WriteReport(dir string, r Report) ([]string, error) {
	if r.Trained == nil || r.Trained.Forest == nil {
		return nil, errors.New("report: no trained model")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	files := []string{filepath.Join(dir, ReportFile), filepath.Join(dir, ScoresPNG), filepath.Join(dir, FeaturesPNG)}
	if err := writePNG(files[1], 8*vg.Inch, 4*vg.Inch, func(c draw.Canvas) error { return scorePlot(r, c) }); err != nil {
		return nil, fmt.Errorf("report: score histogram: %w", err)
	}
	cols := 3
	rows := (len(feature.Names) + cols - 1) / cols
	if err := writePNG(files[2], 10*vg.Inch, vg.Length(rows)*1.6*vg.Inch, func(c draw.Canvas) error { return featurePlots(r.Trained, cols, rows, c) }); err != nil {
		return nil, fmt.Errorf("report: feature distributions: %w", err)
	}
	f, err := os.Create(files[0])
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	w := bufio.NewWriter(f)
	writeMarkdown(w, r)
	err = w.Flush()
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return files, nil
}

func writePNG(path string, w, h vg.Length, draw func(draw.Canvas) error) error {
	img := vgimg.New(w, h)
	if err := draw(drawNew(img)); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	if err2 := f.Close(); err == nil {
		err = err2
	}
	return err
}

func drawNew(img *vgimg.Canvas) draw.Canvas { return draw.New(img) }

var (
	trainColor   = color.NRGBA{R: 70, G: 110, B: 190, A: 255}
	holdoutColor = color.NRGBA{R: 240, G: 150, B: 40, A: 150}
	lineColor    = color.NRGBA{R: 200, G: 30, B: 30, A: 255}
)

func scorePlot(r Report, c draw.Canvas) error {
	t := r.Trained
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Anomaly scores: %d training windows", len(t.TrainScores))
	p.X.Label.Text = "score (higher is more anomalous)"
	p.Y.Label.Text = "density (each histogram's area is 1)"
	p.X.Min, p.X.Max = 0.3, 1
	lo := slices.Min(t.TrainScores)
	if len(t.HoldoutScores) > 0 {
		lo = math.Min(lo, slices.Min(t.HoldoutScores))
	}
	p.X.Min = math.Min(p.X.Min, math.Floor(lo*20)/20)
	ymax := 0.0
	add := func(scores []float64, col color.Color, name string) error {
		h, err := plotter.NewHist(plotter.Values(scores), histogramBin)
		if err != nil {
			return err
		}
		h.Normalize(1)
		h.FillColor = col
		h.LineStyle.Width = vg.Points(0.5)
		for _, b := range h.Bins {
			ymax = math.Max(ymax, b.Weight)
		}
		p.Add(h)
		p.Legend.Add(name, h)
		return nil
	}
	if err := add(t.TrainScores, trainColor, "training windows"); err != nil {
		return err
	}
	if len(t.HoldoutScores) > 0 {
		if err := add(t.HoldoutScores, holdoutColor, "recent benign holdout"); err != nil {
			return err
		}
	}
	vline := func(x float64, name string, dashed bool) error {
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: ymax * 1.05}})
		if err != nil {
			return err
		}
		l.Color = lineColor
		l.Width = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	if err := vline(RiskFrom, fmt.Sprintf("decision threshold %.1f (adds risk above)", RiskFrom), false); err != nil {
		return err
	}
	sorted := slices.Sorted(slices.Values(t.TrainScores))
	if err := vline(Quantile(sorted, 0.99), fmt.Sprintf("training p99 %.3f", Quantile(sorted, 0.99)), true); err != nil {
		return err
	}
	p.Legend.Top = true
	p.Draw(c)
	return nil
}

func featurePlots(t *Trained, cols, rows int, c draw.Canvas) error {
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	vals := make(plotter.Values, len(t.Train))
	for j, name := range feature.Names {
		p := plot.New()
		p.Title.Text = name + " (windows)"
		p.Title.TextStyle.Font.Size = vg.Points(9)
		p.X.Tick.Label.Font.Size = vg.Points(7)
		p.Y.Tick.Label.Font.Size = vg.Points(7)
		for i, w := range t.Train {
			vals[i] = w.Vector[j]
		}
		if lo, hi := slices.Min(vals), slices.Max(vals); lo == hi {
			p.Title.Text = fmt.Sprintf("%s (constant %v)", name, lo)
			p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = lo-1, lo+1, 0, 1
		} else {
			h, err := plotter.NewHist(vals, 20)
			if err != nil {
				return err
			}
			h.FillColor = trainColor
			h.LineStyle.Width = vg.Points(0.3)
			p.Add(h)
		}
		plots[j/cols][j%cols] = p
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, c)
	for i := range plots {
		for j, p := range plots[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	return nil
}

func writeMarkdown(w io.Writer, r Report) {
	t := r.Trained
	md := t.Forest.Metadata()
	fmt.Fprintf(w, "# Anomaly model training report\n\n")
	fmt.Fprintf(w, "**%s**: %s\n\n", outcomeTitle(r.Outcome), r.Reason)
	kinds := map[string]int{}
	seen := map[feature.Asset]bool{}
	for _, win := range t.Train {
		if !seen[win.Asset] {
			seen[win.Asset] = true
			kinds[win.Asset.Kind]++
		}
	}
	forest := "axis-parallel splits"
	if md.Extended {
		forest = "extended (hyperplane splits)"
	}
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	fmt.Fprintf(w, "| model | `%s` `%s` |\n", r.Model, t.Forest.Checksum())
	fmt.Fprintf(w, "| data window | %s to %s, windows of %s |\n", md.Window.Start, md.Window.End, r.Window)
	fmt.Fprintf(w, "| training windows | %d, of %d assets (%d pods, %d nodes, %d namespaces) |\n",
		len(t.Train), len(seen), kinds["Pod"], kinds["Node"], kinds["Namespace"])
	fmt.Fprintf(w, "| holdout | %d most recent windows, %d of them benign (no finding of severity high or above) |\n", t.HeldOut, len(t.Holdout))
	fmt.Fprintf(w, "| forest | %d trees, %d samples per tree, height limit %d, seed %d, %s |\n", md.Trees, md.MaxSamples, md.HeightLimit, md.Seed, forest)
	fmt.Fprintf(w, "| features | %d (schema in the model file) |\n", len(md.Features))
	if len(r.Inputs) > 0 {
		fmt.Fprintf(w, "| history read from | %s |\n", mdEscape(strings.Join(r.Inputs, ", ")))
	}
	if r.Elapsed > 0 {
		fmt.Fprintf(w, "| run time | %s |\n", r.Elapsed.Round(time.Millisecond))
	}
	if len(t.Warnings) > 0 {
		fmt.Fprintf(w, "\n## Warnings\n\n")
		for _, s := range t.Warnings {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}

	fmt.Fprintf(w, "\n## Scores\n\n![anomaly score histogram](%s)\n\n", ScoresPNG)
	above := 0
	for _, s := range t.TrainScores {
		if s > RiskFrom {
			above++
		}
	}
	fmt.Fprintf(w, "The gate adds risk for a score above %.1f (the red line): %d of %d training windows (%.1f%%) score above it. ",
		RiskFrom, above, len(t.TrainScores), 100*float64(above)/float64(len(t.TrainScores)))
	fmt.Fprintf(w, "The dashed line is the training scores' 99th percentile.\n\n")
	fmt.Fprintf(w, "| scores | n | p50 | p90 | p95 | p99 | max |\n|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		s    []float64
	}{{"training", t.TrainScores}, {"holdout (benign)", t.HoldoutScores}} {
		if len(row.s) == 0 {
			continue
		}
		s := slices.Sorted(slices.Values(row.s))
		fmt.Fprintf(w, "| %s | %d | %.4f | %.4f | %.4f | %.4f | %.4f |\n", row.name, len(s),
			Quantile(s, 0.5), Quantile(s, 0.9), Quantile(s, 0.95), Quantile(s, 0.99), s[len(s)-1])
	}

	if c := r.Comparison; c != nil {
		fmt.Fprintf(w, "\n## Promotion check\n\n")
		fmt.Fprintf(w, "Both models scored the same %d recent benign windows, which neither was trained on. "+
			"The candidate is promoted when every quantile below moved by at most %.4f; the largest move was %.4f. "+
			"Two-sample Kolmogorov-Smirnov statistic, for information: %.4f.\n\n", c.Holdout, c.Bound, c.Shift, c.KS)
		fmt.Fprintf(w, "| quantile | current | candidate | difference |\n|---|---|---|---|\n")
		for _, q := range c.Quantiles {
			fmt.Fprintf(w, "| p%s | %.4f | %.4f | %+.4f |\n", pct(q.Q), q.Current, q.Candidate, q.Diff)
		}
	}

	fmt.Fprintf(w, "\n## Most anomalous training windows\n\n")
	fmt.Fprintf(w, "What the model finds most unusual in its own training data: worth a look, since an incident in the history is learnt as normal.\n\n")
	fmt.Fprintf(w, "| score | asset | window start | non-zero features |\n|---|---|---|---|\n")
	idx := make([]int, len(t.Train))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return -cmpFloat(t.TrainScores[a], t.TrainScores[b]) })
	for _, i := range idx[:min(topWindows, len(idx))] {
		win := t.Train[i]
		var nz []string
		for j, v := range win.Vector {
			if v != 0 {
				nz = append(nz, fmt.Sprintf("%s %v", feature.Names[j], v))
			}
		}
		fmt.Fprintf(w, "| %.4f | %s | %s | %s |\n", t.TrainScores[i], mdEscape(win.Asset.String()), win.Start.UTC().Format(time.RFC3339), mdEscape(strings.Join(nz, ", ")))
	}

	fmt.Fprintf(w, "\n## Features\n\n![per-feature distributions over the training windows](%s)\n\n", FeaturesPNG)
	fmt.Fprintf(w, "| feature | non-zero windows | mean | p99 | max |\n|---|---|---|---|---|\n")
	col := make([]float64, len(t.Train))
	for j, name := range feature.Names {
		nz, sum := 0, 0.0
		for i, win := range t.Train {
			col[i] = win.Vector[j]
			sum += col[i]
			if col[i] != 0 {
				nz++
			}
		}
		s := slices.Sorted(slices.Values(col))
		fmt.Fprintf(w, "| `%s` | %d (%.1f%%) | %.3g | %.3g | %.3g |\n", name, nz, 100*float64(nz)/float64(len(col)), sum/float64(len(col)), Quantile(s, 0.99), s[len(s)-1])
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func outcomeTitle(o string) string {
	switch o {
	case "promoted":
		return "Promoted"
	case "rejected":
		return "Rejected"
	case "first model":
		return "First model"
	case "":
		return "Trained"
	}
	return strings.ToUpper(o[:1]) + o[1:]
}

// mdEscape keeps a value from breaking a Markdown table row.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
