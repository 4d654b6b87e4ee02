package main

import "strings"

// runc's global flags that take a value; every other global flag is a boolean. Knowing
// them is what tells "--root /x create" apart from a subcommand.
var globalValueFlags = map[string]bool{
	"root": true, "log": true, "log-format": true, "criu": true, "rootless": true,
}

// Flags of the subcommands we rewrite for that take a value, so that their values are not
// mistaken for --bundle or --process (e.g. `exec --env X=1 -p file`).
var subcommandValueFlags = map[string]map[string]bool{
	"create": {
		"bundle": true, "b": true, "console-socket": true, "pidfd-socket": true,
		"pid-file": true, "preserve-fds": true,
	},
	"run": {
		"bundle": true, "b": true, "console-socket": true, "pidfd-socket": true,
		"pid-file": true, "preserve-fds": true,
	},
	"exec": {
		"console-socket": true, "pidfd-socket": true, "cwd": true, "env": true, "e": true,
		"process": true, "p": true, "pid-file": true, "process-label": true,
		"apparmor": true, "user": true, "u": true, "additional-gids": true, "g": true,
		"cap": true, "c": true, "preserve-fds": true, "cgroup": true,
	},
}

// splitFlag turns "--name=value", "-name=value", "--name" or "-n" into its name and,
// when given inline, its value. runc's CLI library accepts one or two dashes alike.
func splitFlag(arg string) (name, value string, inline bool) {
	name = strings.TrimLeft(arg, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], name[i+1:], true
	}
	return name, "", false
}

func isFlag(arg string) bool {
	return len(arg) > 1 && arg[0] == '-'
}

// subcommand finds runc's subcommand after the global flags and returns it with its args.
func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				return args[i+1], args[i+2:]
			}
			return "", nil
		}
		if !isFlag(arg) {
			return arg, args[i+1:]
		}
		name, _, inline := splitFlag(arg)
		if globalValueFlags[name] && !inline {
			i++
		}
	}
	return "", nil
}

// flagValue returns the value of the first of names among a subcommand's flags.
func flagValue(command string, args []string, names ...string) (string, bool) {
	wanted := map[string]bool{}
	for _, n := range names {
		wanted[n] = true
	}
	valueFlags := subcommandValueFlags[command]
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			break
		}
		if !isFlag(arg) {
			continue
		}
		name, value, inline := splitFlag(arg)
		takesValue := valueFlags[name] || wanted[name]
		if takesValue && !inline {
			if i+1 >= len(args) {
				return "", false
			}
			i++
			value = args[i]
		}
		if wanted[name] {
			return value, true
		}
	}
	return "", false
}
