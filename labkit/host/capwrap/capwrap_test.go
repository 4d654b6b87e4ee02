package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMissingCapsFromCapBnd(t *testing.T) {
	mask, err := parseCapBnd("Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := missingCaps(mask, 40); !reflect.DeepEqual(got, []string{"CAP_SYS_RESOURCE"}) {
		t.Fatalf("missing = %v", got)
	}
	if got := missingCaps(0x1ffffffffff, 40); got != nil {
		t.Fatalf("full set: missing = %v", got)
	}
	// An older kernel knows fewer capabilities; bits above cap_last_cap mean nothing.
	if got := missingCaps(0x3fffffffff, 37); got != nil {
		t.Fatalf("cap_last_cap 37: missing = %v", got)
	}
	if _, err := parseCapBnd("CapEff:\t0\n"); err == nil {
		t.Fatal("want an error without CapBnd")
	}
}

func TestSubcommandSkipsGlobalFlags(t *testing.T) {
	cases := []struct {
		args    []string
		command string
		rest    []string
	}{
		{[]string{"create", "--bundle", "/b", "id"}, "create", []string{"--bundle", "/b", "id"}},
		{
			[]string{"--root", "/run/runc", "--log", "/l.json", "--log-format", "json",
				"--systemd-cgroup", "create", "-b", "/b", "id"},
			"create", []string{"-b", "/b", "id"},
		},
		{[]string{"--root=/r", "--debug", "exec", "-p", "/p.json", "id"}, "exec",
			[]string{"-p", "/p.json", "id"}},
		{[]string{"-root", "/r", "--criu", "/usr/sbin/criu", "run", "id"}, "run", []string{"id"}},
		{[]string{"--rootless", "false", "state", "id"}, "state", []string{"id"}},
		{[]string{"--version"}, "", nil},
	}
	for _, c := range cases {
		command, rest := subcommand(c.args)
		if command != c.command || !reflect.DeepEqual(rest, c.rest) {
			t.Errorf("subcommand(%q) = %q %q, want %q %q", c.args, command, rest, c.command, c.rest)
		}
	}
}

func TestFlagValue(t *testing.T) {
	cases := []struct {
		command string
		args    []string
		names   []string
		want    string
		found   bool
	}{
		{"create", []string{"--bundle", "/b", "id"}, []string{"bundle", "b"}, "/b", true},
		{"create", []string{"--bundle=/b", "id"}, []string{"bundle", "b"}, "/b", true},
		{"create", []string{"--pid-file", "/pid", "-b", "/b", "id"}, []string{"bundle", "b"}, "/b", true},
		// A flag value that looks like -b is a value, not the flag.
		{"create", []string{"--console-socket", "-b", "id"}, []string{"bundle", "b"}, "", false},
		{"run", []string{"--detach", "id"}, []string{"bundle", "b"}, "", false},
		{"exec", []string{"--env", "X=-p", "--process", "/p.json", "id"}, []string{"process", "p"},
			"/p.json", true},
		{"exec", []string{"--detach", "--process=/p.json", "id"}, []string{"process", "p"},
			"/p.json", true},
		{"exec", []string{"-p", "/p.json", "id"}, []string{"process", "p"}, "/p.json", true},
		{"exec", []string{"-t", "id", "sh"}, []string{"process", "p"}, "", false},
	}
	for _, c := range cases {
		got, found := flagValue(c.command, c.args, c.names...)
		if got != c.want || found != c.found {
			t.Errorf("flagValue(%s, %q) = %q %v, want %q %v", c.command, c.args, got, found, c.want, c.found)
		}
	}
}

const privilegedSpec = `{
  "ociVersion": "1.0.2-dev",
  "process": {
    "args": ["/capwrap", "probe"],
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 1048576}],
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"],
      "effective": ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"],
      "inheritable": ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
      "permitted": ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    }
  },
  "root": {"path": "rootfs"}
}`

func writeBundle(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	bundle := t.TempDir()
	path := filepath.Join(bundle, "config.json")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return bundle
}

func TestDropMissingRewritesBundleConfig(t *testing.T) {
	bundle := writeBundle(t, privilegedSpec, 0o640)
	args := []string{"--root", "/run/runc", "create", "--bundle", bundle, "id"}
	if err := dropMissing(args, toSet([]string{"CAP_SYS_RESOURCE"})); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(bundle, "config.json")
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(content), "CAP_SYS_RESOURCE") {
		t.Fatalf("CAP_SYS_RESOURCE left in %s", content)
	}
	if !strings.Contains(string(content), "18446744073709551615") {
		t.Fatalf("rlimit lost precision: %s", content)
	}
	var spec struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			Capabilities map[string][]string `json:"capabilities"`
		} `json:"process"`
	}
	if err := json.Unmarshal(content, &spec); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"bounding":    {"CAP_CHOWN", "CAP_SYS_ADMIN"},
		"effective":   {"CAP_CHOWN", "CAP_SYS_ADMIN"},
		"inheritable": {"CAP_CHOWN"},
		"permitted":   {"CAP_CHOWN", "CAP_SYS_ADMIN"},
	}
	if !reflect.DeepEqual(spec.Process.Capabilities, want) || spec.OCIVersion != "1.0.2-dev" {
		t.Fatalf("spec = %+v", spec)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o640 {
		t.Fatalf("mode = %v, want 0640", info.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(bundle, ".config.json.capwrap-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestDropMissingDefaultsToWorkingDirectory(t *testing.T) {
	bundle := writeBundle(t, privilegedSpec, 0o600)
	previous, _ := os.Getwd()
	if err := os.Chdir(bundle); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chdir(previous) }()
	if err := dropMissing([]string{"run", "id"}, toSet([]string{"CAP_SYS_RESOURCE"})); err != nil {
		t.Fatal(err)
	}
	content, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if strings.Contains(string(content), "CAP_SYS_RESOURCE") {
		t.Fatalf("CAP_SYS_RESOURCE left in %s", content)
	}
}

func TestUnchangedSpecIsNotRewritten(t *testing.T) {
	bundle := writeBundle(t, `{"process": {"capabilities": {"bounding": ["CAP_CHOWN"]}}}`, 0o600)
	path := filepath.Join(bundle, "config.json")
	before, _ := os.Stat(path)
	if err := dropMissing([]string{"create", "-b", bundle, "id"}, toSet([]string{"CAP_SYS_RESOURCE"})); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Fatal("config.json was replaced although nothing was removed")
	}
}

func TestDropMissingRewritesExecProcess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "process.json")
	process := `{"args": ["sh"], "capabilities": {"bounding": ["CAP_SYS_RESOURCE", "CAP_KILL"],` +
		` "ambient": ["CAP_SYS_RESOURCE"]}}`
	if err := os.WriteFile(path, []byte(process), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", "/r", "--log", "/l", "exec", "--detach", "--process", path, "id"}
	if err := dropMissing(args, toSet([]string{"CAP_SYS_RESOURCE"})); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Args         []string            `json:"args"`
		Capabilities map[string][]string `json:"capabilities"`
	}
	content, _ := os.ReadFile(path)
	if err := json.Unmarshal(content, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"bounding": {"CAP_KILL"}, "ambient": {}}
	if !reflect.DeepEqual(got.Capabilities, want) || !reflect.DeepEqual(got.Args, []string{"sh"}) {
		t.Fatalf("process = %+v", got)
	}
}

func TestOtherSubcommandsAreLeftAlone(t *testing.T) {
	for _, args := range [][]string{{"state", "id"}, {"delete", "--force", "id"}, {"--version"}} {
		if err := dropMissing(args, toSet([]string{"CAP_SYS_RESOURCE"})); err != nil {
			t.Errorf("dropMissing(%q): %v", args, err)
		}
	}
}

func TestMalformedSpecIsAnError(t *testing.T) {
	bundle := writeBundle(t, `{"process": {"capabilities": {"bounding": "CAP_KILL"}}}`, 0o600)
	if err := dropMissing([]string{"create", "-b", bundle, "id"}, toSet([]string{"CAP_KILL"})); err == nil {
		t.Fatal("want an error for a capabilities set that is not a list")
	}
}

func TestRealRuncHonoursEnvironment(t *testing.T) {
	t.Setenv("LABKIT_RUNC", "/opt/runc")
	if got, err := realRunc(); err != nil || got != "/opt/runc" {
		t.Fatalf("realRunc() = %q, %v", got, err)
	}
}
