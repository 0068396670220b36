package inventory

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastApplied is kubectl's copy of the applied manifest: large, and nothing
// here reads it.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Kinds lists the kinds an Inventory holds, in the order WriteList writes
// them, with their apiVersion and resource name (for RBAC).
var Kinds = []struct{ Kind, APIVersion, Resource string }{
	{"Namespace", "v1", "namespaces"},
	{"Node", "v1", "nodes"},
	{"Pod", "v1", "pods"},
	{"ReplicaSet", "apps/v1", "replicasets"},
	{"Deployment", "apps/v1", "deployments"},
	{"StatefulSet", "apps/v1", "statefulsets"},
	{"DaemonSet", "apps/v1", "daemonsets"},
	{"Job", "batch/v1", "jobs"},
	{"CronJob", "batch/v1", "cronjobs"},
	{"Service", "v1", "services"},
	{"Ingress", "networking.k8s.io/v1", "ingresses"},
	{"ServiceAccount", "v1", "serviceaccounts"},
}

// WriteList writes the inventory as a Kubernetes List in JSON, the shape
// that Load and Parse read (and that `kubectl get ... -o json` prints):
// kinds in the order of Kinds, objects sorted by namespace and name, one
// object per line. Managed fields and kubectl's last-applied annotation are
// left out. The output is deterministic: the same inventory gives the same
// bytes. The inventory's objects are not modified. An inventory read by
// Load cannot be written (its pods hold only some fields): WriteList
// returns an error.
func (inv *Inventory) WriteList(w io.Writer) error {
	if inv.slimPods {
		return fmt.Errorf("write inventory: Load kept only the pod fields that pulsegate reads; read the snapshot with Parse to write it")
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.WriteString("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"},\"items\":["); err != nil {
		return err
	}
	first := true
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, k := range Kinds {
		objs := inv.objects(k.Kind)
		for _, o := range objs {
			buf.Reset()
			if o.raw != nil {
				// A pod read by the pod decoder: write it whole, from its item.
				full := new(corev1.Pod)
				if err := fastJSON.Unmarshal(o.raw, full); err != nil {
					return fmt.Errorf("write inventory: %s %s: %w", k.Kind, o.key, err)
				}
				full.TypeMeta, full.ObjectMeta = metav1.TypeMeta{}, slim(full.ObjectMeta)
				o.obj = full
			}
			if err := enc.Encode(o.obj); err != nil {
				return fmt.Errorf("write inventory: %s %s: %w", k.Kind, o.key, err)
			}
			b := bytes.TrimRight(buf.Bytes(), "\n")
			if !first {
				bw.WriteByte(',')
			}
			first = false
			bw.WriteString("\n")
			// TypeMeta is cleared in the copies (informers' objects have
			// none) and written first, the same way for every source.
			fmt.Fprintf(bw, "{\"apiVersion\":%q,\"kind\":%q", k.APIVersion, k.Kind)
			if len(b) > 2 {
				bw.WriteByte(',')
			}
			b = b[1:]
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	if _, err := bw.WriteString("\n]}\n"); err != nil {
		return err
	}
	return bw.Flush()
}

// digestList returns the sha256 of WriteList's output.
func (inv *Inventory) digestList() (string, error) {
	h := sha256.New()
	if err := inv.WriteList(h); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

type keyed struct {
	key string
	obj any
	raw []byte // a pod's item bytes, when obj holds only some fields
}

// objects returns the inventory's objects of kind, sorted by namespace and
// name, without TypeMeta, stripped of managed fields and the last-applied annotation (by
// shallow copies of their ObjectMeta where needed).
func (inv *Inventory) objects(kind string) []keyed {
	var out []keyed
	add := func(m metav1.Object, o any) {
		out = append(out, keyed{key: key(m.GetNamespace(), m.GetName()), obj: o})
	}
	switch kind {
	case "Namespace":
		for _, v := range inv.Namespaces {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "Node":
		for _, v := range inv.Nodes {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "Pod":
		for _, v := range inv.Pods {
			if raw := inv.podRaw[v]; raw != nil {
				out = append(out, keyed{key: key(v.Namespace, v.Name), raw: raw})
				continue
			}
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "ReplicaSet":
		for _, v := range inv.ReplicaSets {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "Deployment":
		for _, v := range inv.Deployments {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "StatefulSet":
		for _, v := range inv.StatefulSets {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "DaemonSet":
		for _, v := range inv.DaemonSets {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "Job":
		for _, v := range inv.Jobs {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "CronJob":
		for _, v := range inv.CronJobs {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "Service":
		for _, v := range inv.Services {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "Ingress":
		for _, v := range inv.Ingresses {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	case "ServiceAccount":
		for _, v := range inv.ServiceAccounts {
			c := *v
			c.TypeMeta, c.ObjectMeta = metav1.TypeMeta{}, slim(v.ObjectMeta)
			add(v, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// slim returns m without managed fields and the last-applied annotation;
// m is not modified.
func slim(m metav1.ObjectMeta) metav1.ObjectMeta {
	m.ManagedFields = nil
	if _, ok := m.Annotations[lastApplied]; ok {
		a := make(map[string]string, len(m.Annotations)-1)
		for k, v := range m.Annotations {
			if k != lastApplied {
				a[k] = v
			}
		}
		if len(a) == 0 {
			a = nil
		}
		m.Annotations = a
	}
	return m
}
