package policy

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	"go.yaml.in/yaml/v3"

	"github.com/pulsegate/pulsegate/pkg/correlate"
	"github.com/pulsegate/pulsegate/pkg/risk"
	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Variables lists the names a rule can read, in the order docs/policy.md
// describes them.
var Variables = []string{"release", "targets", "signals", "risk", "anomaly", "sources", "now", "params", "environment", "mode"}

var (
	envOnce sync.Once
	baseEnv *cel.Env
	envErr  error
)

// celEnv is shared by every policy: the variables are the same, only params
// differ, and params is a variable.
func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		listDyn := cel.ListType(cel.DynType)
		opts := []cel.EnvOption{
			cel.Variable("release", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("targets", listDyn),
			cel.Variable("signals", listDyn),
			cel.Variable("risk", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("anomaly", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("sources", listDyn),
			cel.Variable("now", cel.TimestampType),
			cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("environment", cel.StringType),
			cel.Variable("mode", cel.StringType),
			// Only in messages, evidence and more: the list element a
			// reason is about, and how many reasons max_reasons left out.
			cel.Variable("item", cel.DynType),
			cel.Variable("more", cel.IntType),
			ext.Strings(), ext.Lists(), ext.Math(), ext.Bindings(), ext.Sets(),
			cel.Function("quote", cel.Overload("quote_string", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					return types.String(strconv.Quote(string(s)))
				}))),
			cel.Function("severity",
				cel.Overload("severity_string", []*cel.Type{cel.StringType}, cel.IntType,
					cel.UnaryBinding(func(v ref.Val) ref.Val {
						s, ok := v.(types.String)
						if !ok {
							return types.MaybeNoSuchOverloadErr(v)
						}
						sev, err := signal.ParseSeverity(string(s))
						if err != nil {
							return types.NewErr("%s", err.Error())
						}
						return types.Int(sev)
					})),
				cel.Overload("severity_int", []*cel.Type{cel.IntType}, cel.IntType,
					cel.UnaryBinding(func(v ref.Val) ref.Val { return v }))),
			cel.Function("first", cel.MemberOverload("list_first_int", []*cel.Type{listDyn, cel.IntType}, listDyn,
				cel.BinaryBinding(func(l, n ref.Val) ref.Val {
					lst, ok := l.(traits.Lister)
					k, ok2 := n.(types.Int)
					if !ok || !ok2 {
						return types.MaybeNoSuchOverloadErr(l)
					}
					size := lst.Size().(types.Int)
					if k > size {
						k = size
					}
					if k < 0 {
						k = 0
					}
					out := make([]ref.Val, 0, int(k))
					for i := types.Int(0); i < k; i++ {
						out = append(out, lst.Get(i))
					}
					return types.NewRefValList(types.DefaultTypeAdapter, out)
				}))),
			cel.Function("worst_per_rule_target", cel.MemberOverload("list_worst_per_rule_target", []*cel.Type{listDyn}, listDyn,
				cel.UnaryBinding(worstPerRuleTarget))),
		}
		baseEnv, envErr = cel.NewEnv(opts...)
	})
	return baseEnv, envErr
}

// worstPerRuleTarget groups signals by source, rule and target, keeps the
// most severe (then the newest, then the smallest id) of each group, and
// lists the groups most severe first, newest first.
func worstPerRuleTarget(l ref.Val) ref.Val {
	lst, ok := l.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(l)
	}
	n := int(lst.Size().(types.Int))
	type key struct {
		source, rule string
		target       *correlate.Target
	}
	type group struct {
		sev int       // sort keys, kept beside the signal: comparing them
		t   time.Time // needs no pointer chasing
		s   *sigItem
		k   key
		tid string
	}
	idx := make(map[key]int, n/4+1)
	var groups []group
	for i := 0; i < n; i++ {
		o, ok := lst.Get(types.Int(i)).(*object)
		if !ok {
			return types.NewErr("worst_per_rule_target: element %d is not a signal", i)
		}
		s, ok := o.x.(*sigItem)
		if !ok {
			return types.NewErr("worst_per_rule_target: element %d is not a signal", i)
		}
		k := key{s.sig.Source.Name, s.sig.Rule, s.target}
		if j, ok := idx[k]; ok {
			if g := &groups[j]; worse(s, g.s) {
				g.s, g.sev, g.t = s, int(s.sig.Severity), s.sig.Time
			}
			continue
		}
		idx[k] = len(groups)
		groups = append(groups, group{int(s.sig.Severity), s.sig.Time, s, k, s.target.ID()})
	}
	sort.Slice(groups, func(i, j int) bool {
		gi, gj := &groups[i], &groups[j]
		if gi.sev != gj.sev {
			return gi.sev > gj.sev
		}
		if !gi.t.Equal(gj.t) {
			return gi.t.After(gj.t)
		}
		ki, kj := gi.k, gj.k
		if ki.source != kj.source {
			return ki.source < kj.source
		}
		if ki.rule != kj.rule {
			return ki.rule < kj.rule
		}
		return groups[i].tid < groups[j].tid
	})
	out := make([]ref.Val, len(groups))
	objs := make([]object, len(groups))
	for i, g := range groups {
		objs[i] = object{kind: signalKind, x: g.s}
		out[i] = &objs[i]
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

// worse reports whether a ranks before b: more severe, then newer, then by id.
func worse(a, b *sigItem) bool {
	if a.sig.Severity != b.sig.Severity {
		return a.sig.Severity > b.sig.Severity
	}
	if !a.sig.Time.Equal(b.sig.Time) {
		return a.sig.Time.After(b.sig.Time)
	}
	return a.sig.ID < b.sig.ID
}

// budget counts the list elements a rule visits, and stops the rule when
// it has visited more than its cost limit. pulsegate counts visits itself
// rather than with cel-go's runtime cost tracker: that tracker is quadratic
// in the length of a comprehension (0.8 s to filter 10,000 signals in
// cel-go v0.31.0, against 2 ms untracked). The count is a function of the
// rule and the input alone, so the limit is deterministic.
type budget struct {
	used, limit uint64
}

func (b *budget) charge() ref.Val {
	b.used++
	if b.used > b.limit {
		return types.NewErr("cost limit exceeded: the rule visited more than %d list elements (cost_limit)", b.limit)
	}
	return nil
}

// list is an input list whose element visits are charged to a budget.
type list struct {
	objs   []object
	budget *budget
}

var _ traits.Lister = (*list)(nil)

func newList(b *budget, objs []object) *list { return &list{objs: objs, budget: b} }

func (l *list) at(i int) ref.Val { return &l.objs[i] }

func (l *list) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("an input list cannot become a %v", t)
}

func (l *list) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return types.ListType
	case types.ListType:
		return l
	}
	return types.NewErr("a list cannot become a %s", t.TypeName())
}

func (l *list) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Lister)
	if !ok || o.Size() != l.Size() {
		return types.False
	}
	for i := range l.objs {
		if l.at(i).Equal(o.Get(types.Int(i))) != types.True {
			return types.False
		}
	}
	return types.True
}

func (l *list) Type() ref.Type { return types.ListType }
func (l *list) Value() any     { return l.objs }
func (l *list) Size() ref.Val  { return types.Int(len(l.objs)) }

func (l *list) Get(index ref.Val) ref.Val {
	i, err := types.IndexOrError(index)
	if err != nil {
		return types.WrapErr(err)
	}
	if i < 0 || i >= len(l.objs) {
		return types.NewErr("index out of range: %d", i)
	}
	if e := l.budget.charge(); e != nil {
		return e
	}
	return l.at(i)
}

func (l *list) Contains(v ref.Val) ref.Val {
	for i := range l.objs {
		if e := l.budget.charge(); e != nil {
			return e
		}
		if l.at(i).Equal(v) == types.True {
			return types.True
		}
	}
	return types.False
}

func (l *list) Add(other ref.Val) ref.Val {
	o, ok := other.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	out := make([]ref.Val, 0, len(l.objs))
	for i := range l.objs {
		out = append(out, l.at(i))
	}
	it := o.Iterator()
	for it.HasNext() == types.True {
		out = append(out, it.Next())
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

func (l *list) Iterator() traits.Iterator { return &listIter{l: l} }

type listIter struct {
	l *list
	i int
}

func (it *listIter) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("an iterator cannot become a %v", t)
}
func (it *listIter) ConvertToType(ref.Type) ref.Val { return types.NewErr("an iterator has no type") }
func (it *listIter) Equal(ref.Val) ref.Val          { return types.False }
func (it *listIter) Type() ref.Type                 { return types.IteratorType }
func (it *listIter) Value() any                     { return it.l }
func (it *listIter) HasNext() ref.Val               { return types.Bool(it.i < len(it.l.objs)) }
func (it *listIter) Next() ref.Val {
	if it.i >= len(it.l.objs) {
		return nil
	}
	it.i++
	if e := it.l.budget.charge(); e != nil {
		return e
	}
	return it.l.at(it.i - 1)
}

// compiledRule is a Rule with its programs.
type compiledRule struct {
	Rule
	prg      cel.Program
	message  *template
	more     *template
	evidence cel.Program
}

// program compiles one CEL expression; where gives the file position of
// the text for error messages.
func (p *Policy) program(text string, where func(line, col int) string) (cel.Program, *cel.Ast, error) {
	env, err := celEnv()
	if err != nil {
		return nil, nil, fmt.Errorf("cel environment: %w", err)
	}
	a, iss := env.Compile(strings.TrimRight(text, " \t\r\n"))
	if iss != nil && iss.Err() != nil {
		var errs []error
		for _, e := range iss.Errors() {
			errs = append(errs, fmt.Errorf("%s %s (column %d)", where(e.Location.Line(), e.Location.Column()+1), e.Message, e.Location.Column()+1))
		}
		return nil, nil, errors.Join(errs...)
	}
	prg, err := env.Program(a, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %w", where(1, 1), err)
	}
	return prg, a, nil
}

func (p *Policy) compile(loc locator, nodes []ruleNode) error {
	var errs []error
	p.compiled = make([]*compiledRule, len(p.Rules))
	p.paramRefs = map[string]int{}
	for i, r := range p.Rules {
		var fields map[string]*yaml.Node
		line := 0
		if i < len(nodes) {
			fields, line = nodes[i].fields, nodes[i].line
		}
		// where maps a position inside a field's text to the file.
		where := func(field string) func(l, c int) string {
			return func(l, c int) string {
				fl := line
				if n := fields[field]; n != nil {
					fl = n.Line + l - 1
					if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
						fl++ // the text starts below the | or >
					}
				}
				prefix := fmt.Sprintf("rule %q: %s:", r.Name, field)
				if fl > 0 {
					return loc.at(fl, errors.New(prefix)).Error()
				}
				return prefix
			}
		}
		cr := &compiledRule{Rule: r}
		var err error
		var a *cel.Ast
		if cr.prg, a, err = p.program(r.Expression, where("expression")); err != nil {
			errs = append(errs, err)
			continue
		}
		p.noteParams(a)
		if t := a.OutputType(); t != nil && !t.IsAssignableType(cel.BoolType) && !t.IsAssignableType(cel.ListType(cel.DynType)) {
			errs = append(errs, fmt.Errorf("%s the expression gives %s; want a bool or a list", where("expression")(1, 1), t))
		}
		if cr.message, err = p.parseTemplate(r.Message, where("message")); err != nil {
			errs = append(errs, err)
		}
		if r.More != "" {
			if cr.more, err = p.parseTemplate(r.More, where("more")); err != nil {
				errs = append(errs, err)
			}
		}
		if r.Evidence != "" {
			if cr.evidence, a, err = p.program(r.Evidence, where("evidence")); err != nil {
				errs = append(errs, err)
			} else {
				p.noteParams(a)
			}
		}
		p.compiled[i] = cr
	}
	return errors.Join(errs...)
}

// noteParams records every params.NAME an expression reads.
func (p *Policy) noteParams(a *cel.Ast) {
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.SelectKind {
			return
		}
		s := e.AsSelect()
		if op := s.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "params" {
			p.paramRefs[s.FieldName()]++
		}
	}))
}

// checkParams makes a misspelt params.NAME a load error instead of a
// runtime one.
func (p *Policy) checkParams() error {
	var missing []string
	for k := range p.paramRefs {
		if _, ok := p.Params[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return fmt.Errorf("the rules read params %s, which the policy does not set", strings.Join(missing, ", "))
	}
	return nil
}

// object is a read-only CEL value with named fields, computed on access,
// so that a rule pays only for the fields it reads.
type object struct {
	kind *kind
	x    any
}

// kind describes an object's fields.
type kind struct {
	name   string
	typ    *types.Type
	fields map[string]func(x any) ref.Val
	doc    map[string]string
}

func newKind(name string) *kind {
	return &kind{name: name, typ: types.NewObjectType("pulsegate."+name, traits.IndexerType|traits.FieldTesterType),
		fields: map[string]func(any) ref.Val{}, doc: map[string]string{}}
}

func (k *kind) field(name, doc string, f func(x any) ref.Val) {
	k.fields[name], k.doc[name] = f, doc
}

var _ traits.Indexer = (*object)(nil)

func (o *object) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("a %s cannot become a %v", o.kind.name, t)
}

func (o *object) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return o.kind.typ
	}
	return types.NewErr("a %s cannot become a %s", o.kind.name, t.TypeName())
}

func (o *object) Equal(other ref.Val) ref.Val {
	x, ok := other.(*object)
	return types.Bool(ok && x.kind == o.kind && x.x == o.x)
}

func (o *object) Type() ref.Type { return o.kind.typ }
func (o *object) Value() any     { return o.x }

func (o *object) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.NewErr("a %s has fields, not indexes", o.kind.name)
	}
	if it, ok := o.x.(*sigItem); ok {
		// The fields a filter over thousands of signals reads most,
		// without a map lookup.
		switch name {
		case "severity_id":
			return types.Int(it.sig.Severity)
		case "source":
			return types.String(it.sig.Source.Name)
		case "rule":
			return types.String(it.sig.Rule)
		}
	}
	f, ok := o.kind.fields[string(name)]
	if !ok {
		return types.NewErr("no field %q on a %s (fields: %s)", string(name), o.kind.name, strings.Join(o.kind.fieldNames(), ", "))
	}
	return f(o.x)
}

func (o *object) IsSet(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.False
	}
	_, ok = o.kind.fields[string(name)]
	return types.Bool(ok)
}

func (k *kind) fieldNames() []string {
	out := make([]string, 0, len(k.fields))
	for n := range k.fields {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Fields documents a kind's fields ("signal", "source", "contribution",
// "target"): name -> description.
func Fields(kindName string) map[string]string {
	for _, k := range []*kind{signalKind, sourceKind, contributionKind, targetKind} {
		if k.name == kindName {
			return k.doc
		}
	}
	return nil
}

// sigItem is one matched signal as the rules see it.
type sigItem struct {
	sig    *signal.Signal
	target *correlate.Target
	via    string
	now    *time.Time
}

func str(s string) ref.Val { return types.String(s) }

var signalKind = func() *kind {
	k := newKind("signal")
	s := func(f func(*sigItem) ref.Val) func(any) ref.Val {
		return func(x any) ref.Val { return f(x.(*sigItem)) }
	}
	k.field("id", "the signal's stable id", s(func(i *sigItem) ref.Val { return str(i.sig.ID) }))
	k.field("time", "when it happened (timestamp)", s(func(i *sigItem) ref.Val { return types.Timestamp{Time: i.sig.Time.UTC()} }))
	k.field("age", "now - time (duration)", s(func(i *sigItem) ref.Val { return types.Duration{Duration: i.now.Sub(i.sig.Time)} }))
	k.field("ago", `the age for people: "12m ago"`, s(func(i *sigItem) ref.Val { return str(age(*i.now, i.sig.Time)) }))
	k.field("source", "the configured source's name", s(func(i *sigItem) ref.Val { return str(i.sig.Source.Name) }))
	k.field("source_type", `the source's type ("falco")`, s(func(i *sigItem) ref.Val { return str(i.sig.Source.Type) }))
	k.field("product", `the product that saw it ("Falco"), else the source type`, s(func(i *sigItem) ref.Val { return str(product(i.sig)) }))
	k.field("class_uid", "the OCSF class_uid (int)", s(func(i *sigItem) ref.Val { return types.Int(i.sig.ClassUID) }))
	k.field("severity_id", "the OCSF severity_id: 0 unknown, 1 informational .. 5 critical, 6 fatal, 99 other", s(func(i *sigItem) ref.Val { return types.Int(i.sig.Severity) }))
	k.field("severity", `the severity's name ("high")`, s(func(i *sigItem) ref.Val { return str(i.sig.Severity.String()) }))
	k.field("severity_score", "the severity on 0..1 (double)", s(func(i *sigItem) ref.Val { return types.Double(i.sig.Score) }))
	k.field("native", `the source's own severity ("Critical")`, s(func(i *sigItem) ref.Val { return str(i.sig.Native) }))
	k.field("rule", "the source's rule", s(func(i *sigItem) ref.Val { return str(i.sig.Rule) }))
	k.field("title", "the finding's title", s(func(i *sigItem) ref.Val { return str(i.sig.Title) }))
	k.field("name", "the rule, or the title when there is no rule", s(func(i *sigItem) ref.Val { return str(title(i.sig)) }))
	k.field("cves", "CVE ids (list of strings)", s(func(i *sigItem) ref.Val { return types.NewStringList(types.DefaultTypeAdapter, i.sig.CVEs) }))
	k.field("attrs", "the bounded attribute map (map of strings)", s(func(i *sigItem) ref.Val {
		return ordered{types.NewStringStringMap(types.DefaultTypeAdapter, i.sig.Attrs)}
	}))
	k.field("asset", "what it is about: cluster, node, namespace, workload_kind, workload, pod, container, container_id, image, image_digest, cloud_resource, resource (map of strings; empty when unknown)", s(func(i *sigItem) ref.Val {
		a := i.sig.Asset
		return ordered{types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{
			"cluster": a.Cluster, "node": a.Node, "namespace": a.Namespace, "workload_kind": a.WorkloadKind, "workload": a.Workload,
			"pod": a.Pod, "container": a.Container, "container_id": a.ContainerID, "image": a.Image, "image_digest": a.ImageDigest,
			"cloud_resource": a.CloudResource, "resource": a.Resource,
		})}
	}))
	k.field("raw", "FILE:LINE of the raw record, or its own id", s(func(i *sigItem) ref.Val { return str(rawRef(i.sig)) }))
	k.field("target", `the target it concerns ("node ip-10-0-2-22")`, s(func(i *sigItem) ref.Val { return str(i.target.String()) }))
	k.field("target_kind", "the target's kind: Pod, Node, Namespace, ServiceAccount", s(func(i *sigItem) ref.Val { return str(i.target.Kind) }))
	k.field("relation", "how the target relates to the release: replaced-pod, current-node, eligible-node, namespace, service-account", s(func(i *sigItem) ref.Val { return str(string(i.target.Relation)) }))
	k.field("sensitivity", "the target's sensitivity: high, medium, low or empty", s(func(i *sigItem) ref.Val { return str(i.target.Sensitivity) }))
	k.field("via", `how the signal reached the target: "pod", "node", "pod on node", "container on node", "namespace"`, s(func(i *sigItem) ref.Val { return str(i.via) }))
	k.field("where", `the target's relation to the release for people: "on node n1, which runs pods of Deployment a/web"`, s(func(i *sigItem) ref.Val {
		return str(where(*i.target, i.sig.Asset, i.via))
	}))
	return k
}()

var sourceKind = func() *kind {
	k := newKind("source")
	s := func(f func(*SourceStatus) ref.Val) func(any) ref.Val {
		return func(x any) ref.Val { return f(x.(*SourceStatus)) }
	}
	k.field("name", "the configured name", s(func(x *SourceStatus) ref.Val { return str(x.Name) }))
	k.field("type", `the type ("falco")`, s(func(x *SourceStatus) ref.Val { return str(x.Type) }))
	k.field("status", "fresh, no_data, stale or unavailable", s(func(x *SourceStatus) ref.Val { return str(string(x.Status)) }))
	k.field("fail_mode", "fail-closed, fail-open or policy, as configured for this source and environment", s(func(x *SourceStatus) ref.Val { return str(string(x.FailMode)) }))
	k.field("records", "records read (int)", s(func(x *SourceStatus) ref.Val { return types.Int(x.Records) }))
	k.field("rejected", "records that could not be used (int)", s(func(x *SourceStatus) ref.Val { return types.Int(x.Rejected) }))
	k.field("signals", "signals read (int)", s(func(x *SourceStatus) ref.Val { return types.Int(x.Signals) }))
	k.field("matched", "signals about the release's targets (int)", s(func(x *SourceStatus) ref.Val { return types.Int(x.Matched) }))
	k.field("age", "age of the newest evidence of life (duration; 0s when unknown)", s(func(x *SourceStatus) ref.Val {
		if x.AgeSeconds == nil {
			return types.Duration{}
		}
		return types.Duration{Duration: time.Duration(*x.AgeSeconds * float64(time.Second))}
	}))
	k.field("max_age", "the maximum age (duration)", s(func(x *SourceStatus) ref.Val {
		d, _ := time.ParseDuration(x.MaxAge)
		return types.Duration{Duration: d}
	}))
	k.field("detail", "the state explained", s(func(x *SourceStatus) ref.Val { return str(x.Detail) }))
	return k
}()

var contributionKind = func() *kind {
	k := newKind("contribution")
	s := func(f func(*risk.Contribution) ref.Val) func(any) ref.Val {
		return func(x any) ref.Val { return f(x.(*risk.Contribution)) }
	}
	k.field("factor", `"signal" or "anomaly"`, s(func(c *risk.Contribution) ref.Val { return str(c.Factor) }))
	k.field("signal_id", "the signal's id", s(func(c *risk.Contribution) ref.Val { return str(c.SignalID) }))
	k.field("source", "the source's name", s(func(c *risk.Contribution) ref.Val { return str(c.Source) }))
	k.field("rule", "the source's rule", s(func(c *risk.Contribution) ref.Val { return str(c.Rule) }))
	k.field("severity", "the severity's name", s(func(c *risk.Contribution) ref.Val { return str(c.Severity) }))
	k.field("target", "the target", s(func(c *risk.Contribution) ref.Val { return str(c.Target) }))
	k.field("via", "how the signal reached the target", s(func(c *risk.Contribution) ref.Val { return str(c.Via) }))
	k.field("count", "signals in this part (int)", s(func(c *risk.Contribution) ref.Val { return types.Int(c.Count) }))
	k.field("weight", "the weight (double)", s(func(c *risk.Contribution) ref.Val { return types.Double(c.Weight) }))
	k.field("points", "its points; all parts add up to risk.score (double)", s(func(c *risk.Contribution) ref.Val { return types.Double(c.Points) }))
	k.field("what", `the part for people: "\"Reverse shell\" (critical) on node n1" or "the anomaly score"`, s(func(c *risk.Contribution) ref.Val {
		if c.Factor != "signal" {
			return str("the anomaly score")
		}
		return str(fmt.Sprintf("%q (%s) on %s", c.Rule, c.Severity, c.Target))
	}))
	return k
}()

var targetKind = func() *kind {
	k := newKind("target")
	s := func(f func(*correlate.Target) ref.Val) func(any) ref.Val {
		return func(x any) ref.Val { return f(x.(*correlate.Target)) }
	}
	k.field("kind", "Pod, Node, Namespace or ServiceAccount", s(func(t *correlate.Target) ref.Val { return str(t.Kind) }))
	k.field("name", "its name", s(func(t *correlate.Target) ref.Val { return str(t.Name) }))
	k.field("namespace", "its namespace (empty for nodes and namespaces)", s(func(t *correlate.Target) ref.Val { return str(t.Namespace) }))
	k.field("relation", "replaced-pod, current-node, eligible-node, namespace or service-account", s(func(t *correlate.Target) ref.Val { return str(string(t.Relation)) }))
	k.field("reason", "why it is in the landing set", s(func(t *correlate.Target) ref.Val { return str(t.Reason) }))
	k.field("workloads", "the release's workloads that bring it in (list of strings)", s(func(t *correlate.Target) ref.Val {
		return types.NewStringList(types.DefaultTypeAdapter, t.Workloads)
	}))
	k.field("sensitivity", "high, medium, low or empty", s(func(t *correlate.Target) ref.Val { return str(t.Sensitivity) }))
	k.field("display", `the short form used in reasons ("node n1")`, s(func(t *correlate.Target) ref.Val { return str(t.String()) }))
	return k
}()

// activation resolves the rules' variables without a map lookup per name.
type activation struct {
	vars  *vars
	item  ref.Val
	more  ref.Val
	child bool
}

// vars are one evaluation's values, built once and shared by every rule.
type vars struct {
	release, targets, signals, risk, anomaly, sources, now, params, environment, mode ref.Val
	// budget is charged by the input lists; reset before each rule.
	budget *budget
}

func (a *activation) ResolveName(name string) (any, bool) {
	v := a.vars
	switch name {
	case "release":
		return v.release, true
	case "targets":
		return v.targets, true
	case "signals":
		return v.signals, true
	case "risk":
		return v.risk, true
	case "anomaly":
		return v.anomaly, true
	case "sources":
		return v.sources, true
	case "now":
		return v.now, true
	case "params":
		return v.params, true
	case "environment":
		return v.environment, true
	case "mode":
		return v.mode, true
	case "item":
		if a.item == nil {
			return types.NullValue, true
		}
		return a.item, true
	case "more":
		if a.more == nil {
			return types.Int(0), true
		}
		return a.more, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// ordered is a CEL map that iterates its keys in sorted order, so that a
// rule iterating a map (params, attrs, asset, release) is deterministic:
// cel-go iterates Go maps in Go's random order.
type ordered struct {
	traits.Mapper
}

// Iterator lists the keys in order: strings before other types, each
// sorted by value.
func (o ordered) Iterator() traits.Iterator {
	var keys []ref.Val
	it := o.Mapper.Iterator()
	for it.HasNext() == types.True {
		keys = append(keys, it.Next())
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		sa, oka := a.(types.String)
		sb, okb := b.(types.String)
		switch {
		case oka && okb:
			return sa < sb
		case oka != okb:
			return oka
		}
		return fmt.Sprint(a.Value()) < fmt.Sprint(b.Value())
	})
	return &keyIter{keys: keys}
}

type keyIter struct {
	keys []ref.Val
	i    int
}

func (it *keyIter) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("an iterator cannot become a %v", t)
}
func (it *keyIter) ConvertToType(ref.Type) ref.Val { return types.NewErr("an iterator has no type") }
func (it *keyIter) Equal(ref.Val) ref.Val          { return types.False }
func (it *keyIter) Type() ref.Type                 { return types.IteratorType }
func (it *keyIter) Value() any                     { return it.keys }
func (it *keyIter) HasNext() ref.Val               { return types.Bool(it.i < len(it.keys)) }
func (it *keyIter) Next() ref.Val {
	if it.i >= len(it.keys) {
		return nil
	}
	it.i++
	return it.keys[it.i-1]
}

// value converts YAML- or JSON-shaped Go values into CEL values whose maps
// iterate in order, however deep.
func value(v any) ref.Val {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[ref.Val]ref.Val, len(x))
		for k, e := range x {
			m[types.String(k)] = value(e)
		}
		return ordered{types.NewRefValMap(types.DefaultTypeAdapter, m)}
	case map[string]string:
		return ordered{types.NewStringStringMap(types.DefaultTypeAdapter, x)}
	case []any:
		l := make([]ref.Val, len(x))
		for i, e := range x {
			l[i] = value(e)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, l)
	case ref.Val:
		return x
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}
