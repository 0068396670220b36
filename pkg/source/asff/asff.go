// Package asff reads AWS Security Hub findings in the AWS Security Finding
// Format: one finding per record, a `get-findings` response (`Findings`
// list), or the EventBridge event "Security Hub Findings - Imported"
// (`detail.findings`). One finding becomes one Signal.
//
// The class follows AWS's own OCSF mapping of Security Hub findings: by
// product and type.
//
//	ProductArn .../product/aws/guardduty             -> 2004 Detection Finding
//	Vulnerabilities present, ProductArn .../inspector,
//	  or a type under "Software and Configuration
//	  Checks/Vulnerabilities"                         -> 2002 Vulnerability Finding
//	Compliance present (Security Hub controls)        -> 2003 Compliance Finding
//	anything else                                     -> 2004 Detection Finding
//
// Field mapping (docs/sources.md has the full table):
//
//	UpdatedAt (else LastObservedAt, CreatedAt)  -> Signal.Time (as AWS's OCSF mapping: time)
//	Severity.Label, else Severity.Normalized,
//	  else FindingProviderFields.Severity.Label -> severity_id (INFORMATIONAL 1 ... CRITICAL 5;
//	                                               Normalized 0, 1-39, 40-69, 70-89, 90-100)
//	Id                                          -> Raw.ID
//	Compliance.SecurityControlId, else the
//	  finding type after the last "/", else
//	  GeneratorId                               -> Rule
//	Title                                       -> Title
//	Resources[0].Id                             -> Asset.CloudResource
//	Resources[].Details.AwsEksCluster.Name      -> Asset.Cluster (else the ARN's cluster/NAME)
//	Resources[].Details.Container               -> Asset.Container, Image, ImageDigest
//	Resources[].Details.AwsEcrContainerImage    -> Asset.Image (repository), ImageDigest
//	ProductFields ".../kubernetesWorkloadDetails/{namespace,name,type}"
//	                                            -> Asset.Namespace, Workload, WorkloadKind
//	Vulnerabilities[].Id                        -> CVEs; the highest CVSS base score / 10 is the
//	                                               Score of a Vulnerability Finding
package asff

import (
	"bytes"
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

// Spec registers the adapter.
var Spec = source.Spec{
	Type:    "asff",
	Product: "AWS Security Hub",
	Summary: "AWS Security Hub findings (ASFF): plain, a Findings list, or EventBridge events",
	New:     func() source.Parser { return &Parser{} },
	Unwrap:  Unwrap,
}

// Parser parses ASFF findings. The zero value is ready to use.
type Parser struct{}

type finding struct {
	SchemaVersion   string
	ID              string `json:"Id"`
	ProductArn      string
	ProductName     string
	CompanyName     string
	GeneratorID     string `json:"GeneratorId"`
	AwsAccountID    string `json:"AwsAccountId"`
	Region          string
	Types           []string
	FirstObservedAt string
	LastObservedAt  string
	CreatedAt       string
	UpdatedAt       string
	Severity        *severity
	Title           string
	ProductFields   map[string]string
	Resources       []resource
	Compliance      *struct {
		Status            string
		SecurityControlID string `json:"SecurityControlId"`
	}
	Vulnerabilities []struct {
		ID   string `json:"Id"`
		Cvss []struct {
			BaseScore float64
			Version   string
		}
		EpssScore        *float64
		ExploitAvailable string
		FixAvailable     string
	}
	FindingProviderFields struct {
		Severity *severity
	}
	RecordState string
	Workflow    struct{ Status string }

	// Fields of a native GuardDuty finding, to say so when one comes here.
	Service  json.RawMessage
	Resource json.RawMessage
}

type severity struct {
	Label      string
	Normalized *float64
	Original   string
}

type resource struct {
	Type    string
	ID      string `json:"Id"`
	Details struct {
		AwsEksCluster *struct {
			Name string
			Arn  string
		}
		Container *struct {
			Name      string
			ImageID   string `json:"ImageId"`
			ImageName string
		}
		AwsEcrContainerImage *struct {
			RepositoryName string
			ImageDigest    string
		}
		AwsEc2Instance *struct {
			ImageID string `json:"ImageId"`
		}
	}
}

// Unwrap splits a get-findings response ({"Findings": [...]}) and an
// EventBridge event ({"detail": {"findings": [...]}}) into findings.
func Unwrap(doc []byte) ([]json.RawMessage, bool) {
	if !bytes.Contains(doc, []byte(`"Findings"`)) && !bytes.Contains(doc, []byte(`"findings"`)) {
		return nil, false
	}
	var env struct {
		Findings []json.RawMessage `json:"Findings"`
		Detail   *struct {
			Findings []json.RawMessage `json:"findings"`
		} `json:"detail"`
	}
	if json.Unmarshal(doc, &env) != nil {
		return nil, false
	}
	switch {
	case env.Findings != nil:
		return env.Findings, true
	case env.Detail != nil && env.Detail.Findings != nil:
		return env.Detail.Findings, true
	}
	return nil, false
}

var labels = map[string]signal.Severity{
	"INFORMATIONAL": signal.SeverityInformational,
	"LOW":           signal.SeverityLow,
	"MEDIUM":        signal.SeverityMedium,
	"HIGH":          signal.SeverityHigh,
	"CRITICAL":      signal.SeverityCritical,
}

// SeverityOf maps an ASFF Severity onto OCSF: the Label when set, else the
// deprecated Normalized score (0 informational, 1-39 low, 40-69 medium,
// 70-89 high, 90-100 critical, as the ASFF Severity documentation says).
// native is the value used.
func SeverityOf(label string, normalized *float64) (sev signal.Severity, native string, err error) {
	if label != "" {
		s, ok := labels[strings.ToUpper(label)]
		if !ok {
			return 0, "", fmt.Errorf("field \"Severity.Label\": unknown label %q (want INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL)", label)
		}
		return s, label, nil
	}
	if normalized == nil {
		return 0, "", errors.New(`missing field "Severity.Label" (and no Severity.Normalized)`)
	}
	n := *normalized
	native = strconv.FormatFloat(n, 'f', -1, 64)
	switch {
	case n < 0 || n > 100 || n != n:
		return 0, "", fmt.Errorf("field \"Severity.Normalized\": %s is outside 0..100", native)
	case n == 0:
		return signal.SeverityInformational, native, nil
	case n < 40:
		return signal.SeverityLow, native, nil
	case n < 70:
		return signal.SeverityMedium, native, nil
	case n < 90:
		return signal.SeverityHigh, native, nil
	}
	return signal.SeverityCritical, native, nil
}

// Parse implements source.Parser.
func (p *Parser) Parse(rec source.Record) ([]signal.Signal, error) {
	var f finding
	err := json.Unmarshal(rec.Data, &f)
	if err != nil || f.ProductArn == "" && len(f.Service) > 0 && len(f.Resource) > 0 {
		var native struct {
			ProductArn        string
			Service, Resource json.RawMessage
		}
		if json.Unmarshal(rec.Data, &native) == nil && native.ProductArn == "" && len(native.Service) > 0 && len(native.Resource) > 0 {
			return nil, errors.New("a native GuardDuty finding (Service and Resource, no ProductArn): read it with --type guardduty")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not an ASFF finding: %s", source.JSONReason(err))
	}
	if f.ID == "" {
		return nil, errors.New(`missing field "Id"`)
	}
	t, err := findingTime(&f)
	if err != nil {
		return nil, err
	}
	sv := f.Severity
	if sv == nil || sv.Label == "" && sv.Normalized == nil {
		sv = f.FindingProviderFields.Severity
	}
	if sv == nil {
		return nil, errors.New(`missing field "Severity"`)
	}
	sev, native, err := SeverityOf(sv.Label, sv.Normalized)
	if err != nil {
		return nil, err
	}
	s := signal.Signal{
		ID:       signal.MakeID("asff", rec.Data),
		Time:     t,
		Product:  product(&f),
		ClassUID: class(&f),
		Severity: sev,
		Score:    sev.Score(),
		Native:   native,
		Title:    f.Title,
		Rule:     rule(&f),
		Raw:      signal.RawRef{ID: f.ID},
	}
	s.Asset = asset(&f)
	var best float64
	for _, v := range f.Vulnerabilities {
		if v.ID != "" && len(s.CVEs) < 64 {
			s.CVEs = append(s.CVEs, v.ID)
		}
		for _, c := range v.Cvss {
			if c.BaseScore > best && c.BaseScore <= 10 {
				best = c.BaseScore
			}
		}
		if v.EpssScore != nil {
			s.SetAttr("epss", strconv.FormatFloat(*v.EpssScore, 'g', -1, 64))
		}
		s.SetAttr("exploit_available", v.ExploitAvailable)
		s.SetAttr("fix_available", v.FixAvailable)
	}
	if s.ClassUID == signal.ClassVulnerabilityFinding && best > 0 {
		s.Score = math.Round(best*100) / 1000 // 8.1 -> 0.81, not 0.8099999999999999
		s.SetAttr("cvss", strconv.FormatFloat(best, 'f', -1, 64))
	}
	s.SetAttr("account", f.AwsAccountID)
	s.SetAttr("region", f.Region)
	s.SetAttr("product_arn", f.ProductArn)
	s.SetAttr("generator", f.GeneratorID)
	if len(f.Types) > 0 {
		s.SetAttr("types", strings.Join(f.Types, ","))
	}
	if f.Compliance != nil {
		s.SetAttr("compliance_status", f.Compliance.Status)
	}
	s.SetAttr("record_state", f.RecordState)
	s.SetAttr("workflow_status", f.Workflow.Status)
	if sv.Original != "" && sv.Original != native {
		s.SetAttr("severity_original", sv.Original)
	}
	var types []string
	for _, r := range f.Resources {
		types = append(types, r.Type)
	}
	if len(types) > 0 {
		s.SetAttr("resource_types", strings.Join(types, ","))
	}
	return []signal.Signal{s}, nil
}

func findingTime(f *finding) (time.Time, error) {
	for _, c := range []struct{ name, v string }{{"UpdatedAt", f.UpdatedAt}, {"LastObservedAt", f.LastObservedAt}, {"CreatedAt", f.CreatedAt}} {
		if c.v != "" {
			return source.ParseTime(c.name, c.v)
		}
	}
	return time.Time{}, errors.New(`missing field "UpdatedAt" (and no LastObservedAt or CreatedAt)`)
}

// productOf is the product part of a ProductArn: "guardduty" in
// arn:aws:securityhub:us-east-1::product/aws/guardduty.
func productOf(arn string) string {
	i := strings.Index(arn, ":product/")
	if i < 0 {
		return ""
	}
	return strings.ToLower(arn[i+len(":product/"):])
}

func class(f *finding) int {
	p := productOf(f.ProductArn)
	switch {
	case p == "aws/guardduty" || strings.EqualFold(f.ProductName, "GuardDuty"):
		return signal.ClassDetectionFinding
	case p == "aws/inspector":
		return signal.ClassVulnerabilityFinding
	case f.Compliance != nil:
		return signal.ClassComplianceFinding
	case len(f.Vulnerabilities) > 0 || hasType(f.Types, "Software and Configuration Checks/Vulnerabilities"):
		return signal.ClassVulnerabilityFinding
	}
	return signal.ClassDetectionFinding
}

func hasType(types []string, prefix string) bool {
	for _, t := range types {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}

func product(f *finding) string {
	if f.ProductName != "" {
		return f.ProductName
	}
	if n := f.ProductFields["aws/securityhub/ProductName"]; n != "" {
		return n
	}
	if p := productOf(f.ProductArn); p != "" {
		return p[strings.LastIndexByte(p, '/')+1:]
	}
	return "AWS Security Hub"
}

func rule(f *finding) string {
	if f.Compliance != nil && f.Compliance.SecurityControlID != "" {
		return f.Compliance.SecurityControlID
	}
	if c := f.ProductFields["ControlId"]; c != "" {
		return c
	}
	if productOf(f.ProductArn) == "aws/guardduty" && len(f.Types) > 0 {
		t := f.Types[0]
		return t[strings.LastIndexByte(t, '/')+1:]
	}
	if f.GeneratorID != "" {
		return f.GeneratorID
	}
	return f.Title
}

func asset(f *finding) signal.Asset {
	var a signal.Asset
	if len(f.Resources) > 0 {
		a.CloudResource = f.Resources[0].ID
	}
	for _, r := range f.Resources {
		d := r.Details
		if c := d.AwsEksCluster; c != nil || r.Type == "AwsEksCluster" {
			if c != nil && c.Name != "" {
				a.Cluster = c.Name
			} else {
				a.Cluster = ClusterFromARN(r.ID)
			}
		}
		if c := d.Container; c != nil {
			a.Container = c.Name
			a.Image = c.ImageName
			if strings.HasPrefix(c.ImageID, "sha256:") {
				a.ImageDigest = c.ImageID
			}
		}
		if e := d.AwsEcrContainerImage; e != nil {
			if a.Image == "" {
				a.Image = e.RepositoryName
			}
			if a.ImageDigest == "" {
				a.ImageDigest = e.ImageDigest
			}
		}
	}
	// GuardDuty's Kubernetes findings in ASFF carry the workload in
	// ProductFields: ".../kubernetesDetails/kubernetesWorkloadDetails/namespace".
	for k, v := range f.ProductFields {
		lk := strings.ToLower(k)
		i := strings.Index(lk, "kubernetesworkloaddetails/")
		if i < 0 {
			continue
		}
		switch lk[i+len("kubernetesworkloaddetails/"):] {
		case "namespace":
			a.Namespace = v
		case "name":
			a.Workload = v
		case "type":
			a.WorkloadKind = v
		}
	}
	if a.WorkloadKind == "pods" && a.Workload != "" {
		a.Pod, a.Workload, a.WorkloadKind = a.Workload, "", ""
	}
	return a
}

// ClusterFromARN returns NAME from arn:aws:eks:REGION:ACCOUNT:cluster/NAME,
// or "".
func ClusterFromARN(arn string) string {
	if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":eks:") {
		return ""
	}
	_, rest, ok := strings.Cut(arn, ":cluster/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
