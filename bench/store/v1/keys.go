package v1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulsegate/pulsegate/pkg/signal"
)

// Keys.
//
// The signal bucket is keyed by time then id: 8 bytes of big-endian
// nanoseconds since 1970 with the sign bit flipped (so that byte order is
// time order), then the Signal's id. It is the time index: expiry walks it
// from the start.
//
// The index bucket has one key per asset and minute:
//
//	kind byte | uvarint len, part | ... | uvarint len, cluster | minute (8)
//
// whose value lists the signal keys of that asset's Signals in that minute
// (each a uvarint length and the key). Length prefixes make every prefix
// unambiguous, so "one asset in one cluster over one hour" is one cursor
// range of at most 61 keys, and "one asset in any cluster" a short
// skip-scan over the clusters that know it. One key per minute rather than
// per Signal: a batch of fresh Signals touches a few keys per asset, not
// several per Signal (bench/store: about 4 times the write rate).

// maxIndexPart bounds the asset names that are indexed: a Signal whose
// node, pod, ... name is longer (untrusted input) is stored and found by
// time and source, but not by that name.
const maxIndexPart = 1024

// indexSpan is the time one index key covers.
const indexSpan = time.Minute

// AssetKind is a kind of asset Signals are indexed by.
type AssetKind byte

// Asset kinds. Source is not an asset but is indexed the same way: it finds
// one source's Signals, heartbeats included, by time.
const (
	KindNode      AssetKind = 'n'
	KindPod       AssetKind = 'p'
	KindNamespace AssetKind = 's'
	KindWorkload  AssetKind = 'w'
	KindImage     AssetKind = 'i'
	KindCloud     AssetKind = 'c'
	KindResource  AssetKind = 'r'
	KindSource    AssetKind = 'S'
)

var kindNames = map[AssetKind]string{
	KindNode: "node", KindPod: "pod", KindNamespace: "namespace", KindWorkload: "workload",
	KindImage: "image", KindCloud: "cloud", KindResource: "resource", KindSource: "source",
}

func (k AssetKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Asset names one indexed asset.
type Asset struct {
	Kind AssetKind
	// Cluster narrows the asset to one cluster; "" matches every cluster,
	// including Signals that name none.
	Cluster string
	// Namespace is set for pods, workloads and namespaced resources (and
	// is the name of a namespace).
	Namespace string
	// WorkloadKind is a workload's kind ("Deployment").
	WorkloadKind string
	// Name is the node, pod, workload, image digest (or reference when the
	// Signal has no digest), cloud resource id, "resource/name" of a
	// Kubernetes object, or source name.
	Name string
}

// String is the form ParseAsset reads.
func (a Asset) String() string {
	var v string
	switch a.Kind {
	case KindPod, KindResource:
		v = a.Namespace + "/" + a.Name
	case KindWorkload:
		v = a.Namespace + "/" + a.WorkloadKind + "/" + a.Name
	case KindNamespace:
		v = a.Namespace
	default:
		v = a.Name
	}
	return a.Kind.String() + "=" + v
}

// ParseAsset reads KIND=VALUE: node=NAME, pod=NAMESPACE/NAME,
// namespace=NAME, workload=NAMESPACE/KIND/NAME, image=DIGEST (or a
// reference), cloud=ID, resource=NAMESPACE/RESOURCE/NAME (an empty
// namespace for cluster-scoped objects), source=NAME.
func ParseAsset(s string) (Asset, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || v == "" {
		return Asset{}, fmt.Errorf("asset %q: want KIND=VALUE, e.g. node=ip-10-0-2-22 or pod=payments/api-7d9", s)
	}
	var a Asset
	for kind, name := range kindNames {
		if name == k {
			a.Kind = kind
		}
	}
	parts := strings.Split(v, "/")
	bad := func(want string) (Asset, error) {
		return Asset{}, fmt.Errorf("asset %q: want %s=%s", s, k, want)
	}
	switch a.Kind {
	case 0:
		return Asset{}, fmt.Errorf("asset %q: unknown kind %q (want node, pod, namespace, workload, image, cloud, resource or source)", s, k)
	case KindPod:
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return bad("NAMESPACE/NAME")
		}
		a.Namespace, a.Name = parts[0], parts[1]
	case KindWorkload:
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return bad("NAMESPACE/KIND/NAME")
		}
		a.Namespace, a.WorkloadKind, a.Name = parts[0], parts[1], parts[2]
	case KindResource:
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return bad("NAMESPACE/RESOURCE/NAME (empty namespace for cluster-scoped objects)")
		}
		a.Namespace, a.Name = parts[0], parts[1]+"/"+parts[2]
	case KindNamespace:
		if len(parts) != 1 {
			return bad("NAME")
		}
		a.Namespace = v
	default:
		a.Name = v
	}
	return a, nil
}

// prefix is the index prefix of a without its cluster.
func (a Asset) prefix() ([]byte, error) {
	b := []byte{byte(a.Kind)}
	switch a.Kind {
	case KindPod, KindResource:
		b = appendLP(appendLP(b, a.Namespace), a.Name)
	case KindWorkload:
		b = appendLP(appendLP(appendLP(b, a.Namespace), a.WorkloadKind), a.Name)
	case KindNamespace:
		b = appendLP(b, a.Namespace)
	case KindNode, KindImage, KindCloud, KindSource:
		b = appendLP(b, a.Name)
	default:
		return nil, fmt.Errorf("unknown asset kind %q", byte(a.Kind))
	}
	return b, nil
}

func appendLP(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readLP reads one length-prefixed string at the start of b and returns
// the number of bytes it took, or -1 when b is malformed.
func readLP(b []byte) int {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return -1
	}
	return w + int(n)
}

// timeKey is t as 8 bytes whose byte order is time order.
func timeKey(t time.Time) [8]byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(timeNanos(t))^(1<<63))
	return k
}

func keyTime(k []byte) time.Time {
	return nanosTime(int64(binary.BigEndian.Uint64(k) ^ (1 << 63)))
}

// primaryKey is the signal bucket's key for s.
func primaryKey(dst []byte, s *signal.Signal) []byte {
	tk := timeKey(s.Time)
	return append(append(dst, tk[:]...), s.ID...)
}

// eachIndexKey calls fn with every index key of s (the minute of s.Time
// included). The key is only valid during the call.
func eachIndexKey(buf []byte, s *signal.Signal, fn func(k []byte)) {
	a := &s.Asset
	minute := timeKey(s.Time.Truncate(indexSpan))
	emit := func(kind AssetKind, cluster string, parts ...string) {
		if len(cluster) > maxIndexPart {
			return
		}
		b := append(buf[:0], byte(kind))
		for _, p := range parts {
			if len(p) > maxIndexPart {
				return // not indexed; bbolt keys are at most 32 KiB
			}
			b = appendLP(b, p)
		}
		b = appendLP(b, cluster)
		b = append(b, minute[:]...)
		buf = b
		fn(b)
	}
	c := a.Cluster
	emit(KindSource, "", s.Source.Name)
	if a.Node != "" {
		emit(KindNode, c, a.Node)
	}
	if a.Pod != "" {
		emit(KindPod, c, a.Namespace, a.Pod)
	}
	if a.Namespace != "" {
		emit(KindNamespace, c, a.Namespace)
	}
	if a.Workload != "" {
		emit(KindWorkload, c, a.Namespace, a.WorkloadKind, a.Workload)
	}
	switch {
	case a.ImageDigest != "":
		emit(KindImage, c, a.ImageDigest)
	case a.Image != "":
		emit(KindImage, c, a.Image)
	}
	if a.CloudResource != "" {
		emit(KindCloud, c, a.CloudResource)
	}
	if a.Resource != "" {
		emit(KindResource, c, a.Namespace, a.Resource)
	}
}

// eachEntry calls fn with every signal key in an index value; false stops.
func eachEntry(v []byte, fn func(pk []byte) bool) error {
	for len(v) > 0 {
		n, w := binary.Uvarint(v)
		if w <= 0 || n > uint64(len(v)-w) || n < 8 {
			return errBadKey
		}
		if !fn(v[w : w+int(n)]) {
			return nil
		}
		v = v[w+int(n):]
	}
	return nil
}

// successor is the smallest key greater than every key with prefix p, or
// nil when there is none.
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

var errBadKey = errors.New("malformed index entry")
