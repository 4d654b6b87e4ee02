//go:build tools

// Package tools pins the commands labkit builds from github.com/opencontainers/runc.
package tools

import (
	_ "github.com/opencontainers/runc"
)
