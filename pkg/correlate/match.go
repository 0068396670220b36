package correlate

import (
	"github.com/pulsegate/pulsegate/pkg/inventory"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Match says that a Signal concerns a Target, and how.
type Match struct {
	Signal int    // index into the signals given to Matcher.Match
	Target int    // index into LandingSet.Targets
	Via    string // "pod", "node", "pod on node", "container on node", "namespace"
}

// Matcher decides which signals concern which targets. A signal about a
// pod or container also concerns the node that pod runs on: a compromised
// container threatens its node and whatever lands there next. A namespace
// target is concerned by signals about the namespace itself or about objects
// in it that are not pods (a Secret, a RoleBinding), never by another team's
// pod that happens to share the namespace.
type Matcher struct {
	inv     *inventory.Inventory
	cluster string
	pods    map[string]int // "ns/name" -> target index
	nodes   map[string]int
	nss     map[string]int
}

// NewMatcher indexes ls. cluster, when set, is the release's cluster:
// signals that name another cluster never match.
func NewMatcher(ls *LandingSet, inv *inventory.Inventory, cluster string) *Matcher {
	m := &Matcher{inv: inv, cluster: cluster, pods: map[string]int{}, nodes: map[string]int{}, nss: map[string]int{}}
	for i, t := range ls.Targets {
		switch t.Kind {
		case "Pod":
			m.pods[t.Namespace+"/"+t.Name] = i
		case "Node":
			m.nodes[t.Name] = i
		case "Namespace":
			m.nss[t.Name] = i
		}
	}
	return m
}

// Targets returns the matches of one signal, in target order, each target
// at most once.
func (m *Matcher) Targets(s *signal.Signal) []Match {
	a := s.Asset
	if m.cluster != "" && a.Cluster != "" && a.Cluster != m.cluster {
		return nil
	}
	var out []Match
	seen := map[int]bool{}
	add := func(t int, via string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, Match{Target: t, Via: via})
		}
	}
	node := a.Node
	pod, ns := a.Pod, a.Namespace
	if pod == "" && a.ContainerID != "" && m.inv != nil {
		if p := m.inv.PodByContainerID(a.ContainerID); p != nil {
			pod, ns = p.Name, p.Namespace
		}
	}
	if pod != "" {
		if t, ok := m.pods[ns+"/"+pod]; ok {
			add(t, "pod")
		}
		if m.inv != nil {
			if p := m.inv.Pod(ns, pod); p != nil && p.Spec.NodeName != "" {
				if node == "" || node == p.Spec.NodeName {
					if t, ok := m.nodes[p.Spec.NodeName]; ok {
						add(t, "pod on node")
					}
				}
			}
		}
	}
	if node != "" {
		if t, ok := m.nodes[node]; ok {
			via := "node"
			if pod != "" || a.ContainerID != "" {
				via = "container on node"
			}
			add(t, via)
		}
	}
	if pod == "" && node == "" && a.ContainerID == "" && ns != "" {
		if t, ok := m.nss[ns]; ok {
			add(t, "namespace")
		}
	}
	return out
}

// MatchAll matches every signal and returns the matches ordered by signal
// then target.
func (m *Matcher) MatchAll(sigs []signal.Signal) []Match {
	var out []Match
	for i := range sigs {
		for _, mt := range m.Targets(&sigs[i]) {
			mt.Signal = i
			out = append(out, mt)
		}
	}
	return out
}
