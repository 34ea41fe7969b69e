//go:build tools

// Package tools pins the etcd 3.7.3 server and etcdctl commands; build.sh
// builds them from these modules (go.mod and go.sum fix every dependency).
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
