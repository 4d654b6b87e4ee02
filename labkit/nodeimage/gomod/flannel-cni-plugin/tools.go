//go:build tools

// Package tools pins the commands labkit builds from github.com/containernetworking/plugins.
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/meta/flannel"
)
