// Command etcd is the etcd server, built from the Go module proxy so that
// pulsegate's Kubernetes test harness (package test/kube) needs no download
// other than Go modules. It is etcd's own main, unchanged.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
