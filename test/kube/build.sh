#!/usr/bin/env bash
# Builds the etcd and kube-apiserver binaries that test/kube starts, from the
# wrapper modules in test/kube/build, into a cache outside the repository:
#
#   ${PULSEGATE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulsegate/kube}/v1.37.2/{etcd,kube-apiserver}
#
# It does nothing when both binaries are already there, so running it before
# every `go test` is cheap. The first build of kube-apiserver takes several
# minutes on 2 cores; run this script before `go test` so that the build does not
# eat go test's timeout.
#
# Prints the cache directory on its last line of standard output.
set -euo pipefail

KUBE_VERSION=v1.37.2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${PULSEGATE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulsegate/kube}
dir=$root/$KUBE_VERSION

if [[ -x $dir/etcd && -x $dir/kube-apiserver ]]; then
	echo "$dir"
	exit 0
fi

command -v go >/dev/null || { echo "build.sh: go not found in PATH" >&2; exit 1; }
mkdir -p "$dir"

# Builds one wrapper module into the cache. The binary is written to a temporary
# name and renamed, so an interrupted build never leaves a half-written binary
# that a later run would take as complete; a lock keeps parallel `go test`
# processes from building the same binary twice.
build() {
	local name=$1
	shift
	if [[ -x $dir/$name ]]; then
		return
	fi
	local version
	version=$(grep -oE '^\s*(require\s+)?(k8s\.io/kubernetes|go\.etcd\.io/etcd/server/v3) v\S+' "$here/build/$name/go.mod" | awk '{print $NF}')
	echo "building $name ${version:-?} for Kubernetes $KUBE_VERSION (first run only, several minutes)..." >&2
	local start=$SECONDS
	(cd "$here/build/$name" && GOFLAGS=-mod=readonly GOWORK=off go build -trimpath -buildvcs=false "$@" -o "$dir/$name.tmp.$$" .)
	mv -f "$dir/$name.tmp.$$" "$dir/$name"
	echo "built $name in $((SECONDS - start))s: $dir/$name" >&2
}

exec 9>"$dir/.lock"
flock 9
# Module builds carry no version stamp (the server would report
# v0.0.0-master); stamp it as upstream's hack/lib/version.sh does.
major=${KUBE_VERSION#v}; major=${major%%.*}
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

build etcd -ldflags="-s -w"
build kube-apiserver -ldflags="$ldflags"
echo "$dir"
