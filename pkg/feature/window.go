package feature

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Asset is what a training window is about: a Pod, a Node or a Namespace,
// the kinds of target the gate scores most.
type Asset struct {
	Cluster   string `json:"cluster,omitempty"`
	Kind      string `json:"kind"` // Pod, Node or Namespace
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Key is the asset's baseline key (see Key); the cluster is not part of it.
func (a Asset) Key() string { return Key(a.Kind, a.Namespace, a.Name) }

// String is "Pod shop/api-1", "Node n1" or "Namespace shop", with " in
// cluster C" when the cluster is known.
func (a Asset) String() string {
	s := a.Kind + " " + a.Name
	if a.Namespace != "" {
		s = a.Kind + " " + a.Namespace + "/" + a.Name
	}
	if a.Cluster != "" {
		s += " in cluster " + a.Cluster
	}
	return s
}

// Window is one training row: an asset's feature vector over [Start, End).
type Window struct {
	Asset      Asset
	Start, End time.Time
	Vector     []float64
}

// WindowOptions configures Windows.
type WindowOptions struct {
	// Size is the window length; it must be positive.
	Size time.Duration
	// Since and Until bound the history (Since inclusive, Until
	// exclusive); zero takes the oldest and just after the newest signal.
	// Windows are aligned to Since, or to the oldest signal's time
	// truncated to a multiple of Size since the Unix epoch.
	Since, Until time.Time
	// Baseline holds binaries known on an asset before the history
	// begins; nil is empty.
	Baseline Baseline
	// MaxWindows bounds the number of windows; 0 means DefaultMaxWindows.
	MaxWindows int
	// Progress, when set, is called with the windows done and the total,
	// at most every few thousand windows and once at the end.
	Progress func(done, total int)
}

// DefaultMaxWindows bounds Windows' output (about 420 MB of vectors), so
// that a long history with a short window fails with advice instead of
// exhausting memory.
const DefaultMaxWindows = 2_000_000

// Windows cuts a telemetry history into training rows. Every signal
// counts for the assets it is about, as the gate's matcher counts it: a
// pod's signal for the pod and for its node (learnt from any signal that
// names both, when the signal itself does not), a node's for the node, and
// a signal about a namespace or an object in it that is no pod for the
// namespace. Each asset gets one window per Size from the first window in
// which anything about it was seen (a heartbeat, too) to the last: quiet
// windows of a live asset are rows of zeros, as quiet targets are at the
// gate. Unlike the gate's window, which includes both ends, training
// windows are half-open, so that a signal on a boundary counts once.
//
// A binary is new in a window when the asset's earlier windows and the
// baseline never showed it. Windows are returned sorted by End, then by
// asset.
func Windows(sigs []signal.Signal, opt WindowOptions) ([]Window, error) {
	if opt.Size <= 0 {
		return nil, fmt.Errorf("window size %v: must be positive", opt.Size)
	}
	if !opt.Since.IsZero() && !opt.Until.IsZero() && !opt.Until.After(opt.Since) {
		return nil, fmt.Errorf("until %s is not after since %s", opt.Until.Format(time.RFC3339), opt.Since.Format(time.RFC3339))
	}
	maxWin := opt.MaxWindows
	if maxWin <= 0 {
		maxWin = DefaultMaxWindows
	}
	order := make([]int, 0, len(sigs))
	for i := range sigs {
		t := sigs[i].Time
		if t.IsZero() || !opt.Since.IsZero() && t.Before(opt.Since) || !opt.Until.IsZero() && !t.Before(opt.Until) {
			continue
		}
		order = append(order, i)
	}
	if len(order) == 0 {
		return nil, errors.New("no signals in the time range")
	}
	sort.SliceStable(order, func(a, b int) bool { return sigs[order[a]].Time.Before(sigs[order[b]].Time) })
	origin := opt.Since
	if origin.IsZero() {
		origin = sigs[order[0]].Time.Truncate(opt.Size)
	}
	index := func(t time.Time) int { return int(t.Sub(origin) / opt.Size) }

	nodeOf := podNodes(sigs, order)
	type group struct {
		asset      Asset
		sigs       []int // time order
		first, end int   // window indexes, end exclusive
	}
	groups := map[Asset]*group{}
	var keys []Asset
	for _, i := range order {
		s := &sigs[i]
		w := index(s.Time)
		for _, a := range assetsOf(s, nodeOf) {
			g := groups[a]
			if g == nil {
				g = &group{asset: a, first: w}
				groups[a] = g
				keys = append(keys, a)
			}
			g.end = w + 1
			if !s.Heartbeat {
				g.sigs = append(g.sigs, i)
			}
		}
	}
	total := 0
	for _, a := range keys {
		total += groups[a].end - groups[a].first
		if total > maxWin {
			return nil, fmt.Errorf("more than %d windows (%d assets): shorten the range with --since/--until or lengthen the window", maxWin, len(keys))
		}
	}
	out := make([]Window, 0, total)
	vals := make([]float64, total*numFeatures) // one allocation for every vector
	done, next := 0, progressEvery
	for _, a := range keys {
		g := groups[a]
		seen := map[string]bool{}
		base := opt.Baseline[a.Key()]
		k := 0
		for w := g.first; w < g.end; w++ {
			v := vals[:numFeatures:numFeatures]
			vals = vals[numFeatures:]
			ac := newAcc(v, seen, base)
			start := origin.Add(time.Duration(w) * opt.Size)
			var bins []string
			for ; k < len(g.sigs) && index(sigs[g.sigs[k]].Time) == w; k++ {
				s := &sigs[g.sigs[k]]
				ac.add(s)
				if b := binary(s); b != "" {
					bins = append(bins, b)
				}
			}
			for _, b := range bins { // known from the next window on
				seen[b] = true
			}
			out = append(out, Window{Asset: a, Start: start, End: start.Add(opt.Size), Vector: v})
			if done++; opt.Progress != nil && done >= next {
				opt.Progress(done, total)
				next += progressEvery
			}
		}
	}
	if opt.Progress != nil {
		opt.Progress(done, total)
	}
	slices.SortStableFunc(out, func(x, y Window) int {
		if c := x.End.Compare(y.End); c != 0 {
			return c
		}
		return compareAsset(x.Asset, y.Asset)
	})
	return out, nil
}

const progressEvery = 4096

func compareAsset(x, y Asset) int {
	for _, p := range [][2]string{{x.Cluster, y.Cluster}, {x.Kind, y.Kind}, {x.Namespace, y.Namespace}, {x.Name, y.Name}} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

type podKey struct{ cluster, namespace, pod string }

// podNodes learns each pod's node from the signals that name both.
func podNodes(sigs []signal.Signal, order []int) map[podKey]string {
	m := map[podKey]string{}
	for _, i := range order {
		a := &sigs[i].Asset
		if a.Pod != "" && a.Node != "" {
			m[podKey{a.Cluster, a.Namespace, a.Pod}] = a.Node
		}
	}
	return m
}

// assetsOf lists the window assets a signal counts for.
func assetsOf(s *signal.Signal, nodeOf map[podKey]string) []Asset {
	a := &s.Asset
	var out []Asset
	switch {
	case a.Pod != "":
		out = append(out, Asset{Cluster: a.Cluster, Kind: "Pod", Namespace: a.Namespace, Name: a.Pod})
		node := a.Node
		if node == "" {
			node = nodeOf[podKey{a.Cluster, a.Namespace, a.Pod}]
		}
		if node != "" {
			out = append(out, Asset{Cluster: a.Cluster, Kind: "Node", Name: node})
		}
	case a.Node != "" && a.Namespace == "":
		out = append(out, Asset{Cluster: a.Cluster, Kind: "Node", Name: a.Node})
	case a.Namespace != "":
		out = append(out, Asset{Cluster: a.Cluster, Kind: "Namespace", Name: a.Namespace})
	}
	return out
}
