// Command connscope is a packet-level connect tracer: it shows, per connection
// attempt, which step of a connect failed (name lookup, SYN, ICMP, greeting,
// MySQL login) and why. This package only wires flags to the library packages.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/connscope/connscope/live"
)

const usage = `connscope — per-attempt connect timelines (MySQL/MariaDB first, any TCP service)

Usage:
  connscope analyze [flags] FILE...   analyze pcap/pcapng files (- for stdin)
  connscope trace   [flags]           trace connects live (root)
  connscope run     [flags] -- CMD    run CMD and trace only it and its children (root)
  connscope probe   [flags] TARGET      check why a client cannot connect to TARGET (the manual's checklist)
  connscope version                   print the version, commit and Go version (also --version)

Run 'connscope COMMAND -h' for a command's flags.
`

// commands maps a subcommand to its entry point; each returns the process exit code.
var commands = map[string]func(args []string) int{}

func main() {
	// In the copy of connscope that `run` starts, wait for the tracer, then
	// exec the command: this never returns there.
	live.MaybeRunChild()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Print(usage)
		return
	}
	if name == "version" || name == "--version" || name == "-version" || name == "-V" {
		printVersion(os.Stdout)
		return
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "connscope: unknown command %q\n\n%s", name, usage)
		os.Exit(2)
	}
	os.Exit(cmd(os.Args[2:]))
}

// commit is set by the Makefile (-ldflags "-X main.commit=...") for builds
// where Go records no VCS information (e.g. in a git worktree).
var commit string

// printVersion prints the module version, the VCS commit (with "-dirty"
// when the work tree had changes) and the Go version the binary was built
// with, as recorded by the Go toolchain in the binary itself.
func printVersion(w io.Writer) {
	version, rev, when, goVersion := "(unknown)", "(unknown)", "", "(unknown)"
	if commit != "" {
		rev = commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			version = v
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && !strings.HasSuffix(rev, "-dirty") {
			rev += "-dirty"
		}
	}
	fmt.Fprintf(w, "connscope %s\ncommit %s", version, rev)
	if when != "" {
		fmt.Fprintf(w, " (%s)", when)
	}
	fmt.Fprintf(w, "\n%s\n", goVersion)
}
