//go:build tools

// Package tools pins the commands labkit builds from github.com/flannel-io/flannel.
package tools

import (
	_ "github.com/flannel-io/flannel"
)
