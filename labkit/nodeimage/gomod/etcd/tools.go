//go:build tools

// Package tools pins the commands labkit builds from go.etcd.io/etcd/server/v3.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
