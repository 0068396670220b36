package k8saudit

import (
	"fmt"
	"strings"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Rule names: the package doc comment has the table they come from.
const (
	RuleExec             = "k8s-audit: exec into pod"
	RuleAttach           = "k8s-audit: attach to pod"
	RulePortForward      = "k8s-audit: port-forward to pod"
	RulePrivilegedPod    = "k8s-audit: privileged pod created"
	RuleClusterAdmin     = "k8s-audit: binding to cluster-admin"
	RuleWildcardRole     = "k8s-audit: wildcard role written"
	RuleAnonymousAllowed = "k8s-audit: anonymous request allowed"
	RuleAnonymousDenied  = "k8s-audit: anonymous request denied"
	RuleSecretDenied     = "k8s-audit: secret access denied"
	RuleDenied           = "k8s-audit: request denied"
	RuleSecretRead       = "k8s-audit: secret read"
	RuleWrite            = "k8s-audit: write"
	RuleRead             = "k8s-audit: read"
)

var podSessions = map[string]string{
	"exec":        RuleExec,
	"attach":      RuleAttach,
	"portforward": RulePortForward,
}

// classify sets s.Severity, s.Rule and s.Title from the table in the
// package doc comment: the first of the highest matching rows wins.
func classify(s *signal.Signal, e *event, objs *objects) {
	user := e.User.Username
	if user == "" {
		user = "unknown user"
	}
	system := isSystem(e.User.Username)
	code := 0
	if e.ResponseStatus != nil {
		code = e.ResponseStatus.Code
	}
	decision := e.decision
	denied := decision == "forbid" || code == 401 || code == 403
	allowed := !denied && code < 400
	var r objectRef
	if e.ObjectRef != nil {
		r = *e.ObjectRef
	}
	what := describe(e, &r, s, objs)
	outcome := ""
	if !allowed {
		outcome = fmt.Sprintf(" (not allowed: %s)", failure(decision, code))
	}

	// Titles are built only for a row that beats the best so far (the
	// result is the same as building them all).
	best := signal.SeverityUnknown
	set := func(sev signal.Severity, rule, title string) {
		if sev > best {
			best = sev
			s.Severity, s.Rule, s.Title = sev, rule, title
		}
	}
	// high or medium: exec into a pod, privileged pods, admin bindings
	danger := signal.SeverityMedium
	if allowed && !system {
		danger = signal.SeverityHigh
	}
	dangerous := func(rule, title string) { set(danger, rule, title+outcome) }

	if r.Resource == "pods" && (e.Verb == "create" || e.Verb == "get") {
		if rule, ok := podSessions[r.Subresource]; ok {
			title := r.Subresource + " by " + user + " into pod " + nsName(r.Namespace, s.Asset.Pod)
			if cmd := commandFromURI(e.RequestURI); cmd != "" {
				title += ": " + cmd
				s.SetAttr("command", cmd)
			}
			dangerous(rule, title)
		}
	}
	if r.Subresource == "" && isWrite(e.Verb) && e.Verb != "delete" && e.Verb != "deletecollection" {
		if _, ok := workloadKinds[r.Resource]; ok || r.Resource == "pods" {
			if o := objs.object(e.Verb); o != nil {
				if ps := o.podSpec(r.Resource); ps != nil {
					if risks := ps.risks(); len(risks) > 0 {
						s.SetAttr("risks", strings.Join(risks, ", "))
						if danger > best {
							dangerous(RulePrivilegedPod, e.Verb+" "+what+" by "+user+": "+strings.Join(risks, ", "))
						}
					}
				}
			}
		}
		switch r.Resource {
		case "clusterrolebindings", "rolebindings":
			if o := objs.object(e.Verb); o != nil && o.RoleRef.Kind == "ClusterRole" && o.RoleRef.Name == "cluster-admin" {
				if danger > best {
					dangerous(RuleClusterAdmin, e.Verb+" "+what+" by "+user+" binds cluster-admin")
				}
			}
		case "clusterroles", "roles":
			if o := objs.object(e.Verb); o != nil {
				all, some := wildcard(o.Rules)
				switch {
				case all && danger > best:
					dangerous(RuleWildcardRole, e.Verb+" "+what+" by "+user+" grants every verb on every resource")
				case !all && some && signal.SeverityMedium > best:
					set(signal.SeverityMedium, RuleWildcardRole, e.Verb+" "+what+" by "+user+" grants a wildcard verb or resource"+outcome)
				}
			}
		}
	}
	if isAnonymous(e.User) {
		if allowed {
			if signal.SeverityMedium > best {
				set(signal.SeverityMedium, RuleAnonymousAllowed, "anonymous "+e.Verb+" "+what+" allowed")
			}
		} else if signal.SeverityLow > best {
			set(signal.SeverityLow, RuleAnonymousDenied, "anonymous "+e.Verb+" "+what+outcome)
		}
	}
	if denied {
		if r.Resource == "secrets" {
			if signal.SeverityMedium > best {
				set(signal.SeverityMedium, RuleSecretDenied, e.Verb+" "+what+" by "+user+" denied")
			}
		} else if signal.SeverityLow > best {
			set(signal.SeverityLow, RuleDenied, e.Verb+" "+what+" by "+user+" denied")
		}
	}
	if r.Resource == "secrets" && r.Subresource == "" && isRead(e.Verb) && !system && signal.SeverityLow > best {
		set(signal.SeverityLow, RuleSecretRead, e.Verb+" "+what+" by "+user+outcome)
	}
	if isWrite(e.Verb) && e.ObjectRef != nil {
		sev := signal.SeverityLow
		if system {
			sev = signal.SeverityInformational
		}
		if sev > best {
			set(sev, RuleWrite, objs.join(e.Verb, " ", what, " by ", user, outcome))
		}
	}
	if signal.SeverityInformational > best {
		set(signal.SeverityInformational, RuleRead, objs.join(e.Verb, " ", what, " by ", user, outcome))
	}
}

// describe names the object of the request: "pod default/nginx",
// "clusterrolebindings some-binding", "/healthz".
func describe(e *event, r *objectRef, s *signal.Signal, objs *objects) string {
	if e.ObjectRef == nil {
		if e.RequestURI != "" {
			return clip(e.RequestURI, 200)
		}
		return "a non-resource URL"
	}
	name := r.Name
	a := s.Asset
	switch {
	case r.Resource == "pods":
		if a.Pod != "" {
			name = a.Pod
		}
	case r.Resource == "namespaces":
		return objs.join("namespace ", name)
	case name == "" && a.Workload != "":
		name = a.Workload
	}
	// res is resource/subresource, or "object"
	res, slash, sub := r.Resource, "", ""
	if r.Subresource != "" {
		slash, sub = "/", r.Subresource
	} else if res == "" {
		res = "object"
	}
	switch {
	case name == "" && r.Namespace != "":
		return objs.join(res, slash, sub, " in namespace ", r.Namespace)
	case name == "" && sub == "":
		return res
	case name == "":
		return objs.join(res, slash, sub)
	case r.Namespace == "":
		return objs.join(res, slash, sub, " ", name)
	}
	return objs.join(res, slash, sub, " ", r.Namespace, "/", name)
}

func nsName(ns, name string) string {
	if name == "" {
		name = "(unnamed)"
	}
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func failure(decision string, code int) string {
	switch {
	case decision == "forbid":
		return "forbidden"
	case code != 0:
		return fmt.Sprintf("code %d", code)
	}
	return "failed"
}
