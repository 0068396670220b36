package k8saudit

import (
	"encoding/json"
	"strings"

	"github.com/pulsegate/pulsegate/pkg/source"
)

// objects decodes the request and response objects lazily, once each: most
// events never need them.
type objects struct {
	req, resp json.RawMessage
	slow      bool // encoding/json only (tests)
	arena     *source.StringArena
	scratch   *[]byte // for join
	// resource, when set, is the pod spec resource the objects will be
	// asked for (see object.podSpec): the fast path decodes it at once.
	resource          string
	reqObj, respObj   *object
	reqDone, respDone bool
}

// join returns parts joined, as a string of the arena (which saves an
// allocation per string).
func (o *objects) join(parts ...string) string {
	b := (*o.scratch)[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	s := o.arena.String(b)
	if cap(b) > 64<<10 {
		b = nil // not a huge record's
	}
	*o.scratch = b
	return s
}

func (o *objects) request() *object {
	if !o.reqDone {
		o.reqDone = true
		o.reqObj = decodeObject(o.req, o.slow, o.arena, o.resource)
	}
	return o.reqObj
}

func (o *objects) response() *object {
	if !o.respDone {
		o.respDone = true
		o.respObj = decodeObject(o.resp, o.slow, o.arena, o.resource)
	}
	return o.respObj
}

// object returns the full object a write produced: the request object for
// create and update (the whole object), the response object for patch (the
// request is a partial patch), falling back to the other one.
func (o *objects) object(verb string) *object {
	if verb == "patch" {
		if r := o.response(); r != nil {
			return r
		}
		return nil // a patch body is not an object
	}
	if r := o.request(); r != nil {
		return r
	}
	return o.response()
}

// decodeObject decodes a Kubernetes object, or returns nil when raw is
// absent or does not have an object's shape: the event is still usable
// without it. The fast path decodes it unless slow is set; what it does not
// reproduce exactly is left to encoding/json.
func decodeObject(raw json.RawMessage, slow bool, arena *source.StringArena, resource string) *object {
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	if !slow {
		if o, ok := decodeObjectFast(raw, arena, resource); ok {
			o.arena = arena
			return o
		}
	}
	var o object
	o.slow = slow
	if json.Unmarshal(raw, &o) != nil {
		return nil
	}
	return &o
}

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name            string     `json:"name"`
		Namespace       string     `json:"namespace"`
		OwnerReferences []ownerRef `json:"ownerReferences"`
	} `json:"metadata"`
	Spec    json.RawMessage `json:"spec"`
	RoleRef struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"roleRef"`
	Rules  []policyRule `json:"rules"`
	Target struct {     // pods/binding
		Name string `json:"name"`
	} `json:"target"`

	slow       bool // encoding/json only (tests)
	arena      *source.StringArena
	ps         *podSpec // podSpec's last result, for psResource
	psResource string
	psDone     bool
}

type ownerRef struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Controller *bool  `json:"controller"`
}

type policyRule struct {
	Verbs     []string `json:"verbs"`
	Resources []string `json:"resources"`
}

func (o *object) controller() *ownerRef {
	for i := range o.Metadata.OwnerReferences {
		r := &o.Metadata.OwnerReferences[i]
		if r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

type podSpec struct {
	NodeName            string      `json:"nodeName"`
	HostNetwork         bool        `json:"hostNetwork"`
	HostPID             bool        `json:"hostPID"`
	HostIPC             bool        `json:"hostIPC"`
	Containers          []container `json:"containers"`
	InitContainers      []container `json:"initContainers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
	Volumes             []volume    `json:"volumes"`
}

type volume struct {
	Name     string `json:"name"`
	HostPath *struct {
		Path string `json:"path"`
	} `json:"hostPath"`
}

type container struct {
	Name            string `json:"name"`
	Image           string `json:"image"`
	SecurityContext *struct {
		Privileged   *bool `json:"privileged"`
		Capabilities *struct {
			Add []string `json:"add"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

// podSpec returns the pod spec inside o: the spec of a Pod, the template of
// a workload, or the job template of a CronJob. It returns nil when there is
// none or it does not decode.
func (o *object) podSpec(resource string) *podSpec {
	if !o.psDone || o.psResource != resource {
		o.ps, o.psResource, o.psDone = o.decodePodSpec(resource), resource, true
	}
	return o.ps
}

func (o *object) decodePodSpec(resource string) *podSpec {
	if len(o.Spec) == 0 || o.Spec[0] != '{' {
		return nil
	}
	if !o.slow {
		if ps, ok := podSpecFast(o.Spec, resource, o.arena); ok {
			return ps
		}
	}
	var ps *podSpec
	switch resource {
	case "pods":
		var v podSpec
		if json.Unmarshal(o.Spec, &v) == nil {
			ps = &v
		}
	case "cronjobs":
		var v struct {
			JobTemplate struct {
				Spec struct {
					Template struct {
						Spec podSpec `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		}
		if json.Unmarshal(o.Spec, &v) == nil {
			ps = &v.JobTemplate.Spec.Template.Spec
		}
	default:
		var v struct {
			Template struct {
				Spec podSpec `json:"spec"`
			} `json:"template"`
		}
		if json.Unmarshal(o.Spec, &v) == nil {
			ps = &v.Template.Spec
		}
	}
	return ps
}

func (ps *podSpec) all() [][]container {
	return [][]container{ps.Containers, ps.InitContainers, ps.EphemeralContainers}
}

// images lists the containers' images in order, without repeats.
func (ps *podSpec) images() []string {
	var out []string
	seen := map[string]bool{}
	for _, cs := range ps.all() {
		for _, c := range cs {
			if c.Image != "" && !seen[c.Image] {
				seen[c.Image] = true
				out = append(out, c.Image)
			}
		}
	}
	return out
}

// sensitiveHostPaths are host paths whose mount gives a container the node:
// Falco's sensitive_mount list (k8s_audit_rules.yaml) plus the container
// runtimes' state and sockets.
var sensitiveHostPaths = []string{
	"/proc", "/sys", "/dev", "/boot", "/etc", "/root", "/home/admin",
	"/var/run/docker.sock", "/run/docker.sock",
	"/var/run/crio", "/run/crio", "/var/run/containerd", "/run/containerd",
	"/var/lib/kubelet", "/var/lib/docker", "/var/lib/containerd",
	"/etc/kubernetes",
}

func sensitivePath(p string) bool {
	p = shortPath(p)
	if p == "/" {
		return true
	}
	for _, s := range sensitiveHostPaths {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return false
}

// risks lists what makes ps a privileged pod, in a fixed order, e.g.
// "privileged container nginx", "hostNetwork", "hostPath /etc".
func (ps *podSpec) risks() []string {
	var out []string
	for _, cs := range ps.all() {
		for _, c := range cs {
			sc := c.SecurityContext
			if sc == nil {
				continue
			}
			if sc.Privileged != nil && *sc.Privileged {
				out = append(out, "privileged container "+c.Name)
			}
			if sc.Capabilities != nil {
				for _, cap := range sc.Capabilities.Add {
					switch strings.ToUpper(strings.TrimPrefix(strings.ToUpper(cap), "CAP_")) {
					case "SYS_ADMIN", "ALL":
						out = append(out, "capability "+cap+" in container "+c.Name)
					}
				}
			}
		}
	}
	if ps.HostNetwork {
		out = append(out, "hostNetwork")
	}
	if ps.HostPID {
		out = append(out, "hostPID")
	}
	if ps.HostIPC {
		out = append(out, "hostIPC")
	}
	for _, v := range ps.Volumes {
		if v.HostPath != nil && sensitivePath(v.HostPath.Path) {
			out = append(out, "hostPath "+shortPath(v.HostPath.Path))
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// wildcard reports whether rules grant every verb on every resource (all),
// or every verb or every resource (some).
func wildcard(rules []policyRule) (all, some bool) {
	for _, r := range rules {
		v, res := contains(r.Verbs, "*"), contains(r.Resources, "*")
		if v && res {
			return true, true
		}
		if v || res {
			some = true
		}
	}
	return false, some
}
