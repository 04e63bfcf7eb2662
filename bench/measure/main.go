// Command measure runs a command and reports its wall time, CPU time and
// peak resident set size (from the kernel's rusage of the child, so no
// `time` package is needed), for bench/run.sh.
//
// Usage: measure -o RESULT -- CMD ARGS...
//
// The command's standard streams are passed through. RESULT gets one line:
// "wall_s W user_s U sys_s S maxrss_kb K exit E".
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	out := flag.String("o", "", "write the measurement to `FILE` (default: standard error)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: measure [-o FILE] -- CMD ARGS...")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	line := fmt.Sprintf("wall_s %.3f user_s %.3f sys_s %.3f maxrss_kb %d exit %d\n",
		wall.Seconds(), cmd.ProcessState.UserTime().Seconds(), cmd.ProcessState.SystemTime().Seconds(), ru.Maxrss, code)
	if *out == "" {
		fmt.Fprint(os.Stderr, line)
		return
	}
	if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}
