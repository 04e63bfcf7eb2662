// Command connscope is a packet-level connect tracer: it shows, per connection
// attempt, which step of a connect failed (name lookup, SYN, ICMP, greeting,
// MySQL login) and why. This package only wires flags to the library packages.
package main

import (
	"fmt"
	"os"

	"github.com/connscope/connscope/live"
)

const usage = `connscope — per-attempt connect timelines (MySQL/MariaDB first, any TCP service)

Usage:
  connscope analyze [flags] FILE...   analyze pcap/pcapng files (- for stdin)
  connscope trace   [flags]           trace connects live (root)
  connscope run     [flags] -- CMD    run CMD and trace only it and its children (root)

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
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "connscope: unknown command %q\n\n%s", name, usage)
		os.Exit(2)
	}
	os.Exit(cmd(os.Args[2:]))
}
