// Command capwrap stands in for runc where the capability bounding set lacks some
// capabilities (a VM or sandbox without CAP_SYS_RESOURCE, say). runc refuses to start a
// process asking for capabilities it cannot have, and "privileged" asks for all of them,
// so capwrap removes those from the OCI spec of `create`/`run` and the process file of
// `exec`, then execs the real runc with the same arguments. Hosts that lack nothing go
// straight to runc.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

var runcCandidates = []string{
	"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc",
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "probe" {
		os.Exit(probe())
	}
	if len(os.Args) >= 2 && os.Args[1] == "sleep" {
		os.Exit(sleep(os.Args[2:]))
	}
	if err := wrap(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "labkit capwrap: %v\n", err)
		os.Exit(1)
	}
}

// probe reports what this process's bounding set lacks; as a privileged container's
// entrypoint it shows that the container started at all, and with which capabilities.
func probe() int {
	missing, err := readMissingCaps("/proc/self/status", "/proc/sys/kernel/cap_last_cap")
	if err != nil {
		fmt.Fprintf(os.Stderr, "capwrap probe: %v\n", err)
		return 1
	}
	if len(missing) == 0 {
		fmt.Println("none")
	} else {
		fmt.Println(strings.Join(missing, " "))
	}
	return 0
}

// sleep keeps a probe container up for `docker exec`; as PID 1 it must handle SIGTERM
// itself or `docker stop` waits for its timeout.
func sleep(args []string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	var timeout <-chan time.Time
	if len(args) == 1 {
		seconds, err := time.ParseDuration(args[0] + "s")
		if err != nil {
			fmt.Fprintf(os.Stderr, "capwrap sleep: %v\n", err)
			return 2
		}
		timeout = time.After(seconds)
	}
	select {
	case <-stop:
	case <-timeout:
	}
	return 0
}

func wrap(args []string) error {
	runc, err := realRunc()
	if err != nil {
		return err
	}
	missing, err := readMissingCaps("/proc/self/status", "/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := dropMissing(args, toSet(missing)); err != nil {
			return err
		}
	}
	return syscall.Exec(runc, append([]string{runc}, args...), os.Environ())
}

// dropMissing rewrites the JSON file the runc invocation will read capabilities from.
func dropMissing(args []string, missing map[string]bool) error {
	command, rest := subcommand(args)
	switch command {
	case "create", "run":
		bundle, ok := flagValue(command, rest, "bundle", "b")
		if !ok || bundle == "" {
			bundle = "."
		}
		return rewriteFile(filepath.Join(bundle, "config.json"), dropFromSpec, missing)
	case "exec":
		process, ok := flagValue(command, rest, "process", "p")
		if !ok || process == "" {
			return nil
		}
		return rewriteFile(process, dropFromProcess, missing)
	}
	return nil
}

func toSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// realRunc skips this very binary so that capwrap can itself be installed as a "runc"
// on PATH (inside a node image, say) without exec'ing itself forever.
func realRunc() (string, error) {
	if runc := os.Getenv("LABKIT_RUNC"); runc != "" {
		return runc, nil
	}
	self, selfErr := os.Stat("/proc/self/exe")
	for _, candidate := range runcCandidates {
		info, err := os.Stat(candidate)
		if err != nil || info.IsDir() {
			continue
		}
		if selfErr == nil && os.SameFile(self, info) {
			continue
		}
		return candidate, nil
	}
	return "", fmt.Errorf("no runc found in %s (set LABKIT_RUNC)", strings.Join(runcCandidates, ", "))
}
