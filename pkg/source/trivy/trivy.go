// Package trivy reads image vulnerability reports: Trivy's JSON report
// (`trivy image --format json`, SchemaVersion 2, and `trivy k8s --format
// json` with its Resources), and Trivy Operator's VulnerabilityReport and
// ClusterVulnerabilityReport resources, one by one or in a List, in JSON or
// in YAML (`kubectl get vulnerabilityreports -A -o yaml`), or listed from
// the Kubernetes API (kube.go: a telemetry entry with "kubernetes"). Every
// vulnerability becomes one OCSF Vulnerability Finding (2002); a report
// without any becomes one Informational Signal, "trivy: no
// vulnerabilities", which still shows that the image was scanned.
//
// Field mapping (docs/sources.md has the full table):
//
//	Trivy JSON                               Trivy Operator
//	CreatedAt                                report.updateTimestamp, else metadata.creationTimestamp -> Time
//	VulnerabilityID                          vulnerabilityID         -> CVEs, Rule
//	Severity, else VendorSeverity[SeveritySource]
//	                                         severity                -> severity_id
//	CVSS.*.V3Score (the highest)             score                   -> Score = CVSS / 10
//	Metadata.RepoTags[0], else ArtifactName  registry.server/artifact.repository:tag -> Asset.Image
//	Metadata.RepoDigests[0] after "@"        artifact.digest         -> Asset.ImageDigest
//	ClusterName, Resources[].Namespace, Kind, Name
//	                                         labels trivy-operator.resource.{namespace,kind,name},
//	                                         trivy-operator.container.name
//	                                                                 -> Asset.Cluster, Namespace,
//	                                                                    WorkloadKind, Workload, Container
//	PkgName, InstalledVersion, FixedVersion  resource, installedVersion, fixedVersion -> attrs
package trivy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
	"github.com/pulsegate/pulsegate/pkg/source"
)

// Spec registers the adapter. YAML input is converted with sigs.k8s.io/yaml
// (source.SplitYAML); JSON input is read as every other source's.
var Spec = source.Spec{
	Type:    "trivy",
	Product: "Trivy",
	Summary: "Trivy JSON reports and Trivy Operator VulnerabilityReports (JSON or YAML, Lists too; or from the Kubernetes API)",
	New:     func() source.Parser { return &Parser{} },
	Split:   source.SplitYAML,
	// Read from the Kubernetes API: kube.go.
	PullKubernetes: pullKubernetes,
}

// MaxSignals bounds the Signals one report gives; the rest are counted in
// the last Signal's attr "truncated".
const MaxSignals = 10000

// Parser parses Trivy reports. The zero value is ready to use.
type Parser struct{}

type doc struct {
	// Trivy JSON.
	SchemaVersion *int
	CreatedAt     string
	ArtifactName  string
	ArtifactType  string
	Metadata      struct {
		ImageID     string `json:"ImageID"`
		RepoTags    []string
		RepoDigests []string
	}
	Results     []result
	ClusterName string
	Resources   []struct {
		Namespace string
		Kind      string
		Name      string
		Results   []result
	}

	// Trivy Operator (the same decoder: encoding/json matches names
	// without regard to case, and the two shapes share no names).
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	ObjectMeta struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace"`
		Labels            map[string]string `json:"labels"`
		CreationTimestamp string            `json:"creationTimestamp"`
	} `json:"metadata"`
	Report *struct {
		UpdateTimestamp string `json:"updateTimestamp"`
		Artifact        struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
			Digest     string `json:"digest"`
		} `json:"artifact"`
		Registry struct {
			Server string `json:"server"`
		} `json:"registry"`
		Vulnerabilities []struct {
			VulnerabilityID  string   `json:"vulnerabilityID"`
			Severity         string   `json:"severity"`
			Score            *float64 `json:"score"`
			Resource         string   `json:"resource"`
			InstalledVersion string   `json:"installedVersion"`
			FixedVersion     string   `json:"fixedVersion"`
			Title            string   `json:"title"`
			PrimaryLink      string   `json:"primaryLink"`
			Target           string   `json:"target"`
		} `json:"vulnerabilities"`
	} `json:"report"`
}

type result struct {
	Target          string
	Class           string
	Type            string
	Vulnerabilities []vuln
}

type vuln struct {
	VulnerabilityID  string `json:"VulnerabilityID"`
	PkgName          string
	InstalledVersion string
	FixedVersion     string
	Status           string
	Severity         string
	SeveritySource   string
	VendorSeverity   map[string]int
	CVSS             map[string]struct {
		V3Score float64
		V2Score float64
	}
	Title      string
	PrimaryURL string `json:"PrimaryURL"`
}

var severities = map[string]signal.Severity{
	"UNKNOWN":  signal.SeverityUnknown,
	"LOW":      signal.SeverityLow,
	"MEDIUM":   signal.SeverityMedium,
	"HIGH":     signal.SeverityHigh,
	"CRITICAL": signal.SeverityCritical,
}

// SeverityOf maps Trivy's severity name onto OCSF: UNKNOWN 0, LOW 2,
// MEDIUM 3, HIGH 4, CRITICAL 5.
func SeverityOf(name string) (signal.Severity, error) {
	s, ok := severities[strings.ToUpper(name)]
	if !ok {
		return 0, fmt.Errorf("unknown Trivy severity %q (want UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)", name)
	}
	return s, nil
}

// VendorSeverity maps Trivy's numeric vendor severity (0 unknown, 1 low,
// 2 medium, 3 high, 4 critical) onto its name.
func VendorSeverity(n int) string {
	switch n {
	case 1:
		return "LOW"
	case 2:
		return "MEDIUM"
	case 3:
		return "HIGH"
	case 4:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var d doc
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		return nil, fmt.Errorf("not a Trivy report: %s", source.JSONReason(err))
	}
	base := signal.MakeID("trivy", rec.Data)
	switch {
	case d.Kind == "VulnerabilityReport" || d.Kind == "ClusterVulnerabilityReport":
		return operatorReport(&d, base)
	case d.Kind != "":
		return nil, fmt.Errorf("field \"kind\": %q is not a VulnerabilityReport or ClusterVulnerabilityReport", d.Kind)
	case d.SchemaVersion != nil || d.Results != nil || d.Resources != nil:
		return jsonReport(&d, base)
	}
	return nil, errors.New("not a Trivy report: no SchemaVersion and Results, and no kind VulnerabilityReport")
}

type builder struct {
	base string
	out  []signal.Signal
	more int
}

func (b *builder) add(s signal.Signal) {
	if len(b.out) >= MaxSignals {
		b.more++
		return
	}
	s.ID = signal.MakeID("trivy", []byte(b.base+"/"+strconv.Itoa(len(b.out))))
	s.Product = "Trivy"
	s.ClassUID = signal.ClassVulnerabilityFinding
	b.out = append(b.out, s)
}

func (b *builder) done(t time.Time, asset signal.Asset) []signal.Signal {
	if len(b.out) == 0 {
		s := signal.Signal{Time: t, Severity: signal.SeverityInformational, Score: signal.SeverityInformational.Score(),
			Rule: "trivy: no vulnerabilities", Title: "the report lists no vulnerabilities", Asset: asset}
		b.add(s)
	}
	if b.more > 0 {
		b.out[len(b.out)-1].SetAttr("truncated", strconv.Itoa(b.more))
	}
	return b.out
}

func jsonReport(d *doc, base string) ([]signal.Signal, error) {
	if d.CreatedAt == "" {
		return nil, errors.New(`missing field "CreatedAt": the report has no time`)
	}
	t, err := source.ParseTime("CreatedAt", d.CreatedAt)
	if err != nil {
		return nil, err
	}
	var a signal.Asset
	if len(d.Metadata.RepoTags) > 0 {
		a.Image = d.Metadata.RepoTags[0]
	} else {
		a.Image = d.ArtifactName
	}
	if len(d.Metadata.RepoDigests) > 0 {
		if _, dg, ok := strings.Cut(d.Metadata.RepoDigests[0], "@"); ok {
			a.ImageDigest = dg
		}
	}
	b := &builder{base: base}
	if err := addResults(b, d.Results, t, a, d); err != nil {
		return nil, err
	}
	for _, r := range d.Resources {
		ra := signal.Asset{Cluster: d.ClusterName, Namespace: r.Namespace}
		if r.Kind == "Pod" {
			ra.Pod = r.Name
		} else {
			ra.WorkloadKind, ra.Workload = r.Kind, r.Name
		}
		if err := addResults(b, r.Results, t, ra, d); err != nil {
			return nil, err
		}
	}
	a.Cluster = d.ClusterName
	return b.done(t, a), nil
}

func addResults(b *builder, results []result, t time.Time, a signal.Asset, d *doc) error {
	for _, r := range results {
		for _, v := range r.Vulnerabilities {
			if v.VulnerabilityID == "" {
				return errors.New(`a vulnerability without "VulnerabilityID"`)
			}
			name := v.Severity
			if name == "" {
				src := v.SeveritySource
				if _, ok := v.VendorSeverity[src]; !ok {
					src = "nvd"
				}
				name = VendorSeverity(v.VendorSeverity[src])
			}
			sev, err := SeverityOf(name)
			if err != nil {
				return fmt.Errorf("%s: field \"Severity\": %w", v.VulnerabilityID, err)
			}
			s := signal.Signal{Time: t, Severity: sev, Score: sev.Score(), Native: name, Asset: a,
				Rule: v.VulnerabilityID, Title: vulnTitle(v.Title, v.PkgName, v.InstalledVersion), CVEs: []string{v.VulnerabilityID}}
			var best float64
			for _, c := range v.CVSS {
				if c.V3Score > best && c.V3Score <= 10 {
					best = c.V3Score
				}
			}
			if best > 0 {
				s.Score = math.Round(best*100) / 1000 // 8.1 -> 0.81, not 0.8099999999999999
				s.SetAttr("cvss", strconv.FormatFloat(best, 'f', -1, 64))
			}
			s.SetAttr("package", v.PkgName)
			s.SetAttr("installed", v.InstalledVersion)
			s.SetAttr("fixed", v.FixedVersion)
			s.SetAttr("status", v.Status)
			s.SetAttr("target", r.Target)
			s.SetAttr("class", r.Class)
			s.SetAttr("url", v.PrimaryURL)
			s.SetAttr("image_id", d.Metadata.ImageID)
			b.add(s)
		}
	}
	return nil
}

func vulnTitle(title, pkg, version string) string {
	if title != "" {
		return title
	}
	return strings.TrimSpace(pkg + " " + version)
}

func operatorReport(d *doc, base string) ([]signal.Signal, error) {
	r := d.Report
	if r == nil {
		return nil, fmt.Errorf("%s %q: missing field \"report\"", d.Kind, d.ObjectMeta.Name)
	}
	ts, field := r.UpdateTimestamp, "report.updateTimestamp"
	if ts == "" {
		ts, field = d.ObjectMeta.CreationTimestamp, "metadata.creationTimestamp"
	}
	if ts == "" {
		return nil, fmt.Errorf("%s %q: missing field \"report.updateTimestamp\" (and no metadata.creationTimestamp)", d.Kind, d.ObjectMeta.Name)
	}
	t, err := source.ParseTime(field, ts)
	if err != nil {
		return nil, err
	}
	l := d.ObjectMeta.Labels
	a := signal.Asset{Namespace: cmp.Or(l["trivy-operator.resource.namespace"], d.ObjectMeta.Namespace),
		Container: l["trivy-operator.container.name"], ImageDigest: r.Artifact.Digest}
	kind, name := l["trivy-operator.resource.kind"], l["trivy-operator.resource.name"]
	if kind == "Pod" {
		a.Pod = name
	} else {
		a.WorkloadKind, a.Workload = kind, name
	}
	if r.Artifact.Repository != "" {
		a.Image = r.Artifact.Repository
		if r.Registry.Server != "" {
			a.Image = r.Registry.Server + "/" + a.Image
		}
		if r.Artifact.Tag != "" {
			a.Image += ":" + r.Artifact.Tag
		}
	}
	b := &builder{base: base}
	for _, v := range r.Vulnerabilities {
		if v.VulnerabilityID == "" {
			return nil, errors.New(`a vulnerability without "vulnerabilityID"`)
		}
		sev, err := SeverityOf(v.Severity)
		if err != nil {
			return nil, fmt.Errorf("%s: field \"severity\": %w", v.VulnerabilityID, err)
		}
		s := signal.Signal{Time: t, Severity: sev, Score: sev.Score(), Native: v.Severity, Asset: a,
			Rule: v.VulnerabilityID, Title: vulnTitle(v.Title, v.Resource, v.InstalledVersion), CVEs: []string{v.VulnerabilityID}}
		if v.Score != nil && *v.Score > 0 && *v.Score <= 10 {
			s.Score = math.Round(*v.Score*100) / 1000
			s.SetAttr("cvss", strconv.FormatFloat(*v.Score, 'f', -1, 64))
		}
		s.SetAttr("package", v.Resource)
		s.SetAttr("installed", v.InstalledVersion)
		s.SetAttr("fixed", v.FixedVersion)
		s.SetAttr("url", v.PrimaryLink)
		s.SetAttr("report", d.ObjectMeta.Name)
		b.add(s)
	}
	return b.done(t, a), nil
}
