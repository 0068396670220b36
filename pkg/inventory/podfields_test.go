package inventory

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// keptFields is THE RULE of pod.go by Go field name, for the structs of a
// pod that the pod decoder takes apart (the structs below them, such as
// Toleration, ContainerPort, OwnerReference and Affinity, are kept whole).
var keptFields = map[string][]string{
	"ObjectMeta":      {"Name", "GenerateName", "Namespace", "UID", "ResourceVersion", "Generation", "CreationTimestamp", "DeletionTimestamp", "Labels", "Annotations", "OwnerReferences"},
	"Pod":             {"TypeMeta", "ObjectMeta", "Spec", "Status"},
	"PodSpec":         {"NodeName", "NodeSelector", "ServiceAccountName", "HostNetwork", "HostPID", "HostIPC", "PriorityClassName", "SchedulerName", "Affinity", "SecurityContext", "Tolerations", "Containers", "InitContainers"},
	"Container":       {"Name", "Image", "Ports", "SecurityContext"},
	"PodStatus":       {"Phase", "Reason", "HostIP", "PodIP", "PodIPs", "QOSClass", "StartTime", "Conditions", "ContainerStatuses", "InitContainerStatuses"},
	"PodCondition":    {"Type", "Status", "Reason"},
	"ContainerStatus": {"Name", "Image", "ImageID", "ContainerID", "Ready", "RestartCount", "Started"},
}

// notInventoryPods lists reads of skipped fields that are not reads of an
// inventory pod (file relative to the module root, then Type.Field), each
// with the reason.
var notInventoryPods = map[string]string{}

// TestPodFieldsRead type-checks every package that imports this one and
// fails when it reads a field of a pod's structs that the pod decoder skips:
// such a read of an inventory pod would see a zero value. Decode the field
// (pod.go, keptPod, keptFields) or, if the value is not an inventory pod
// (a release's template, an object from the API server), list it in
// notInventoryPods with the reason.
func TestPodFieldsRead(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the packages that use the inventory (-short)")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to find the packages that use the inventory: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	const self = "github.com/pulsegate/pulsegate/pkg/inventory"
	out, err := exec.Command(goCmd, "list", "-C", root, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var users []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == self {
				users = append(users, f[0])
			}
		}
	}
	if len(users) == 0 {
		t.Fatal("no package imports the inventory")
	}
	args := append([]string{"list", "-C", root, "-e", "-export", "-deps", "-json=ImportPath,Export,Dir,GoFiles"}, users...)
	out, err = exec.Command(goCmd, args...).Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	type pkg struct {
		ImportPath, Export, Dir string
		GoFiles                 []string
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(pkgs[path].Export)
	})
	var bad []string
	for _, u := range users {
		p := pkgs[u]
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		if _, err := (&types.Config{Importer: imp}).Check(u, fset, files, info); err != nil {
			t.Fatalf("type-check %s: %v", u, err)
		}
		skipped := skippedFields(t, imp)
		for sel, s := range info.Selections {
			if s.Kind() != types.FieldVal {
				continue
			}
			name, ok := skipped[s.Obj().(*types.Var)]
			if !ok {
				continue
			}
			pos := fset.Position(sel.Sel.Pos())
			rel, _ := filepath.Rel(root, pos.Filename)
			if _, ok := notInventoryPods[rel+": "+name]; ok {
				continue
			}
			bad = append(bad, rel+": "+name+" (line "+strconv.Itoa(pos.Line)+")")
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s: the pod decoder skips this field (see THE RULE in pod.go)", b)
	}
}

// skippedFields maps each field that the pod decoder skips to "Type.Field".
func skippedFields(t *testing.T, imp types.Importer) map[*types.Var]string {
	t.Helper()
	out := map[*types.Var]string{}
	for typ, kept := range keptFields {
		path := "k8s.io/api/core/v1"
		if typ == "ObjectMeta" {
			path = "k8s.io/apimachinery/pkg/apis/meta/v1"
		}
		p, err := imp.Import(path)
		if err != nil {
			t.Fatal(err)
		}
		obj := p.Scope().Lookup(typ)
		if obj == nil {
			t.Fatalf("no %s in %s", typ, path)
		}
		st := obj.Type().Underlying().(*types.Struct)
		keep := map[string]bool{}
		for _, k := range kept {
			keep[k] = true
		}
		found := 0
		for i := 0; i < st.NumFields(); i++ {
			f := st.Field(i)
			if keep[f.Name()] {
				found++
				continue
			}
			out[f] = typ + "." + f.Name()
		}
		if found != len(kept) {
			t.Fatalf("keptFields[%q] names a field %s does not have", typ, typ)
		}
	}
	return out
}
