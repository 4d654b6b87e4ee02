package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

var capabilitySets = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// dropFromCapabilities removes missing caps from an OCI LinuxCapabilities object. Only the
// lists are decoded so every other byte of the spec goes back to runc untouched (rlimits
// such as 2^64-1 would not survive a float64 round trip).
func dropFromCapabilities(raw json.RawMessage, missing map[string]bool) (json.RawMessage, bool, error) {
	var sets map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sets); err != nil {
		return nil, false, fmt.Errorf("capabilities: %v", err)
	}
	if sets == nil {
		return raw, false, nil
	}
	changed := false
	for _, set := range capabilitySets {
		listRaw, ok := sets[set]
		if !ok {
			continue
		}
		var list []string
		if err := json.Unmarshal(listRaw, &list); err != nil {
			return nil, false, fmt.Errorf("capabilities.%s: %v", set, err)
		}
		if list == nil {
			continue
		}
		kept := make([]string, 0, len(list))
		for _, c := range list {
			if missing[c] {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		encoded, err := json.Marshal(kept)
		if err != nil {
			return nil, false, err
		}
		sets[set] = encoded
	}
	if !changed {
		return raw, false, nil
	}
	encoded, err := json.Marshal(sets)
	return encoded, true, err
}

// dropFromProcess rewrites the "capabilities" member of an OCI process object.
func dropFromProcess(raw json.RawMessage, missing map[string]bool) (json.RawMessage, bool, error) {
	var process map[string]json.RawMessage
	if err := json.Unmarshal(raw, &process); err != nil {
		return nil, false, fmt.Errorf("process: %v", err)
	}
	caps, ok := process["capabilities"]
	if !ok {
		return raw, false, nil
	}
	newCaps, changed, err := dropFromCapabilities(caps, missing)
	if err != nil || !changed {
		return raw, false, err
	}
	process["capabilities"] = newCaps
	encoded, err := json.Marshal(process)
	return encoded, true, err
}

// dropFromSpec rewrites "process.capabilities" of a bundle's config.json.
func dropFromSpec(raw json.RawMessage, missing map[string]bool) (json.RawMessage, bool, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, false, fmt.Errorf("config: %v", err)
	}
	process, ok := spec["process"]
	if !ok {
		return raw, false, nil
	}
	newProcess, changed, err := dropFromProcess(process, missing)
	if err != nil || !changed {
		return raw, false, err
	}
	spec["process"] = newProcess
	encoded, err := json.Marshal(spec)
	return encoded, true, err
}

type rewriter func(json.RawMessage, map[string]bool) (json.RawMessage, bool, error)

// rewriteFile applies rewrite to path in place, keeping its mode and owner; the new
// content is renamed over the old so runc never reads half a file.
func rewriteFile(path string, rewrite rewriter, missing map[string]bool) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	updated, changed, err := rewrite(content, missing)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if !changed {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".capwrap-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(updated); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), info.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(tmp.Name(), int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), path)
}
