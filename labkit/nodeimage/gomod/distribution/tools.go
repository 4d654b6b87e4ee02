//go:build tools

// Package tools pins the commands labkit builds from github.com/distribution/distribution/v3.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
)
