//go:build tools

// Package tools pins the commands labkit builds from sigs.k8s.io/cri-tools.
package tools

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
