package inventory

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// keptPod is THE RULE of pod.go in code: full with every field that
// the pod decoder skips left zero.
func keptPod(full *corev1.Pod) *corev1.Pod {
	p := &corev1.Pod{TypeMeta: full.TypeMeta}
	m, fm := &p.ObjectMeta, &full.ObjectMeta
	m.Name, m.GenerateName, m.Namespace, m.UID = fm.Name, fm.GenerateName, fm.Namespace, fm.UID
	m.ResourceVersion, m.Generation = fm.ResourceVersion, fm.Generation
	m.CreationTimestamp, m.DeletionTimestamp = fm.CreationTimestamp, fm.DeletionTimestamp
	m.Labels, m.Annotations, m.OwnerReferences = fm.Labels, fm.Annotations, fm.OwnerReferences

	s, fs := &p.Spec, &full.Spec
	s.NodeName, s.NodeSelector, s.ServiceAccountName = fs.NodeName, fs.NodeSelector, fs.ServiceAccountName
	s.HostNetwork, s.HostPID, s.HostIPC = fs.HostNetwork, fs.HostPID, fs.HostIPC
	s.PriorityClassName, s.SchedulerName = fs.PriorityClassName, fs.SchedulerName
	s.Affinity, s.SecurityContext, s.Tolerations = fs.Affinity, fs.SecurityContext, fs.Tolerations
	containers := func(in []corev1.Container) []corev1.Container {
		if in == nil {
			return nil
		}
		out := make([]corev1.Container, len(in))
		for i, c := range in {
			out[i] = corev1.Container{Name: c.Name, Image: c.Image, Ports: c.Ports, SecurityContext: c.SecurityContext}
		}
		return out
	}
	s.Containers, s.InitContainers = containers(fs.Containers), containers(fs.InitContainers)

	st, fst := &p.Status, &full.Status
	st.Phase, st.Reason, st.HostIP, st.PodIP, st.PodIPs = fst.Phase, fst.Reason, fst.HostIP, fst.PodIP, fst.PodIPs
	st.QOSClass, st.StartTime = fst.QOSClass, fst.StartTime
	if fst.Conditions != nil {
		st.Conditions = make([]corev1.PodCondition, len(fst.Conditions))
		for i, c := range fst.Conditions {
			st.Conditions[i] = corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason}
		}
	}
	statuses := func(in []corev1.ContainerStatus) []corev1.ContainerStatus {
		if in == nil {
			return nil
		}
		out := make([]corev1.ContainerStatus, len(in))
		for i, c := range in {
			out[i] = corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.ImageID, ContainerID: c.ContainerID,
				Ready: c.Ready, RestartCount: c.RestartCount, Started: c.Started}
		}
		return out
	}
	st.ContainerStatuses, st.InitContainerStatuses = statuses(fst.ContainerStatuses), statuses(fst.InitContainerStatuses)
	return p
}

// podDiff explains how two pods differ, as indented JSON line by line.
func podDiff(got, want *corev1.Pod) string {
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ": got " + a + ", want " + b + "\ngot:\n" + string(g) + "\nwant:\n" + string(w)
		}
	}
	return "differ in something JSON does not show (pointers, nil against empty, time zones)"
}

// checkSlim compares every pod that parseFast read from b with a full
// decode of its item (encoding/json, as the generic path decodes) reduced to
// the kept fields; it returns the number of pods.
func checkSlim(t *testing.T, b []byte, name string) int {
	t.Helper()
	inv := New()
	if err := parseFast(b, inv); err != nil {
		t.Fatalf("%s: did not take the fast path", name)
	}
	for _, p := range inv.Pods {
		raw := inv.podRaw[p]
		if raw == nil {
			t.Fatalf("%s: pod %s/%s without its item bytes", name, p.Namespace, p.Name)
		}
		full := new(corev1.Pod)
		if err := json.Unmarshal(raw, full); err != nil {
			t.Fatalf("%s: full decode of %s/%s: %v", name, p.Namespace, p.Name, err)
		}
		if want := keptPod(full); !reflect.DeepEqual(p, want) {
			t.Errorf("%s: pod %s/%s: the decoder and a full decode disagree: %s", name, p.Namespace, p.Name, podDiff(p, want))
		}
	}
	return len(inv.Pods)
}

// TestSlimPodAgrees: for realistic pods (kubectl's shape with managed
// fields, volumes, env, probes, states; the demo's; WriteList's), the pod decoder
// gives exactly the kept fields of a full decode.
func TestSlimPodAgrees(t *testing.T) {
	b, err := os.ReadFile("testdata/pods.json")
	if err != nil {
		t.Fatal(err)
	}
	if n := checkSlim(t, b, "testdata/pods.json"); n != 3 {
		t.Errorf("%d pods, want 3", n)
	}
	// The rich pod has fields of every kind that is skipped: the rule
	// drops something, so a decoder that read them all would not pass by
	// accident, and one that drops a kept field fails above.
	var list struct{ Items []corev1.Pod }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	rich := &list.Items[0]
	if reflect.DeepEqual(keptPod(rich), rich) {
		t.Error("testdata/pods.json's first pod has nothing that the decoder skips")
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"volumes", len(rich.Spec.Volumes) > 0}, {"env", len(rich.Spec.Containers[0].Env) > 0},
		{"probes", rich.Spec.Containers[0].LivenessProbe != nil}, {"resources", len(rich.Spec.Containers[0].Resources.Requests) > 0},
		{"managed fields", len(rich.ManagedFields) > 0}, {"container state", rich.Status.ContainerStatuses[0].State.Running != nil},
		{"affinity", rich.Spec.Affinity != nil}, {"security context", rich.Spec.Containers[0].SecurityContext != nil},
		{"deletion timestamp", rich.DeletionTimestamp != nil}, {"pod IPs", len(rich.Status.PodIPs) == 2},
	} {
		if !f.set {
			t.Errorf("testdata/pods.json's first pod lacks %s", f.name)
		}
	}

	demo, err := os.ReadFile("../../examples/demo/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	if n := checkSlim(t, demo, "demo"); n == 0 {
		t.Error("no pods in the demo inventory")
	}
	// WriteList's shape: the demo read by the generic path and written.
	slow, err := slowParse(t, demo)
	if err != nil {
		t.Fatal(err)
	}
	checkSlim(t, written(t, slow), "demo written")
}

// A pod read by the pod decoder is written whole: WriteList gives the same bytes
// as for the fully decoded inventory.
func TestSlimPodWritesWhole(t *testing.T) {
	b, err := os.ReadFile("testdata/pods.json")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := Parse(b, "pods.json")
	if err != nil {
		t.Fatal(err)
	}
	slow, err := slowParse(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if w, s := written(t, fast), written(t, slow); !bytes.Equal(w, s) {
		t.Errorf("written differently:\n%s\n---\n%s", w, s)
	}
	if !bytes.Contains(written(t, fast), []byte("kube-api-access-7zq4m")) {
		t.Error("volumes lost in WriteList")
	}
}

// Load keeps only the decoded fields: the same pods as Parse, and WriteList
// refuses to write them.
func TestLoadSlim(t *testing.T) {
	loaded, err := Load("testdata/pods.json")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse(mustRead(t, "testdata/pods.json"), "pods.json")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.podRaw != nil || !reflect.DeepEqual(loaded.Pods, parsed.Pods) || loaded.Digest != parsed.Digest {
		t.Error("Load and Parse read different pods")
	}
	err = loaded.WriteList(io.Discard)
	if err == nil || !strings.Contains(err.Error(), "Parse") {
		t.Errorf("WriteList of a loaded inventory: %v", err)
	}
	// A YAML snapshot takes the generic path: whole pods, writable.
	y, err := Load("testdata/small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := y.WriteList(io.Discard); err != nil {
		t.Error(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSlimPodFallsBack(t *testing.T) {
	pod := func(body string) []byte {
		return []byte(`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod",` + body + `}]}`)
	}
	for name, doc := range map[string][]byte{
		"key in another case": pod(`"metadata":{"Name":"p"}`),
		"kelvin sign key":     pod(`"metadata":{"\u212aind":"p"}`),
		"non-ascii key":       pod(`"spec":{"nodeNam\u00e9":"n"}`),
		"repeated key":        pod(`"metadata":{"name":"p","name":"q"}`),
		"repeated label":      pod(`"metadata":{"labels":{"a":"1","a":"2"}}`),
		"wrong type":          pod(`"spec":{"hostNetwork":"true"}`),
		"port too large":      pod(`"spec":{"containers":[{"ports":[{"containerPort":4294967296}]}]}`),
		"fraction":            pod(`"status":{"containerStatuses":[{"restartCount":1.5}]}`),
		"bad time":            pod(`"metadata":{"creationTimestamp":"yesterday"}`),
		"bad skipped literal": pod(`"spec":{"volumes":[tru]}`),
		"bad skipped number":  pod(`"spec":{"priority":01}`),
		"unterminated":        pod(`"spec":{"volumes":["x]}`),
		"missing colon":       pod(`"spec" {}`),
		"null item":           []byte(`{"kind":"List","items":[null]}`),
		"escaped key":         pod(`"metadata":{"n\u0061me":"p"}`),
		"bad affinity":        pod(`"spec":{"affinity":{"nodeAffinity":5}}`),
		"deep":                pod(`"spec":{"volumes":` + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + `}`),
	} {
		if err := parseFast(doc, New()); err == nil {
			t.Errorf("%s: took the fast path", name)
		}
	}
	// Strings with escapes and non-ASCII decode as encoding/json does.
	inv := New()
	if err := parseFast(pod(`"metadata":{"name":"caf\u00e9\n","labels":{"\u00e9":"\ud83d\ude00 \ud800"}}`), inv); err != nil {
		t.Fatal(err)
	}
	if p := inv.Pods[0]; p.Name != "café\n" || p.Labels["é"] != "😀 \ufffd" {
		t.Errorf("name %q labels %q", p.Name, p.Labels)
	}
}

// FuzzDecodePod: whenever the fast path accepts a document and encoding/json
// can decode its pods, the pods hold exactly the kept fields of a full
// decode.
func FuzzDecodePod(f *testing.F) {
	if b, err := os.ReadFile("testdata/pods.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"x","labels":{"a":"b"}},"spec":{"nodeName":"n","containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}]},"status":{"phase":"Running","containerStatuses":[{"containerID":"containerd://abc","restartCount":2}]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv := New()
		if parseFast(b, inv) != nil {
			return
		}
		for _, p := range inv.Pods {
			full := new(corev1.Pod)
			if err := json.Unmarshal(inv.podRaw[p], full); err != nil {
				continue // malformed in a skipped field: the full decode refuses it
			}
			if want := keptPod(full); !reflect.DeepEqual(p, want) {
				t.Errorf("pod disagrees on %q: %s", inv.podRaw[p], podDiff(p, want))
			}
		}
	})
}
