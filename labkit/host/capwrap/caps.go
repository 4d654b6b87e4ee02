package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// capNames follows the numbering of linux/capability.h.
var capNames = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

func capName(n int) string {
	if n < len(capNames) {
		return capNames[n]
	}
	return fmt.Sprintf("CAP_%d", n)
}

// missingCaps names the capabilities up to lastCap whose bit is clear in the CapBnd mask.
// A process cannot grant what is outside its bounding set, so runc fails to apply them.
func missingCaps(capBnd uint64, lastCap int) []string {
	var missing []string
	for n := 0; n <= lastCap && n < 64; n++ {
		if capBnd&(1<<uint(n)) == 0 {
			missing = append(missing, capName(n))
		}
	}
	return missing
}

func parseCapBnd(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		value := strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:"))
		mask, err := strconv.ParseUint(value, 16, 64)
		if err != nil {
			return 0, fmt.Errorf("CapBnd %q: %v", value, err)
		}
		return mask, nil
	}
	return 0, fmt.Errorf("no CapBnd line")
}

func readMissingCaps(statusPath, lastCapPath string) ([]string, error) {
	status, err := os.ReadFile(statusPath)
	if err != nil {
		return nil, err
	}
	mask, err := parseCapBnd(string(status))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", statusPath, err)
	}
	lastCapText, err := os.ReadFile(lastCapPath)
	if err != nil {
		return nil, err
	}
	lastCap, err := strconv.Atoi(strings.TrimSpace(string(lastCapText)))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", lastCapPath, err)
	}
	return missingCaps(mask, lastCap), nil
}
