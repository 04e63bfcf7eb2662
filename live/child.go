package live

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// childArg is the hidden first argument with which connscope re-executes
// itself to start a traced command. The re-executed child blocks on a pipe
// until the tracer has added its pid to the kernel-side filter, then execs
// the command in place (same pid), so not even the command's first connect()
// can slip past the tracer. Go cannot fork without exec, hence the re-exec.
const childArg = "__connscope-exec-after-barrier"

// childBarrierFD is where the child finds the read end of the barrier pipe
// (the first of exec.Cmd.ExtraFiles).
const childBarrierFD = 3

// MaybeRunChild must be the first thing main does. In the re-executed child
// it waits for the go-ahead and execs the command, never returning; in every
// other process it returns at once.
func MaybeRunChild() {
	if len(os.Args) < 3 || os.Args[1] != childArg {
		return
	}
	argv := os.Args[2:]
	barrier := os.NewFile(childBarrierFD, "connscope-barrier")
	var go1 [1]byte
	if n, _ := io.ReadFull(barrier, go1[:]); n != 1 {
		// The tracer went away before releasing us: do not run untraced.
		fmt.Fprintln(os.Stderr, "connscope: tracer exited before the command could start")
		os.Exit(126)
	}
	barrier.Close()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		msg, code := lookPathFailure(argv[0], err)
		fmt.Fprintf(os.Stderr, "connscope: %s\n", msg)
		os.Exit(code)
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "connscope: exec %s: %v\n", path, err)
	os.Exit(126)
}

// lookPathFailure turns exec.LookPath's error for name into a message and
// the shell's exit status: 126 when name is a path to something that exists
// but cannot be executed (a directory, a file without execute permission),
// 127 when it does not exist or is not found on $PATH.
func lookPathFailure(name string, err error) (string, int) {
	if strings.Contains(name, "/") {
		if st, serr := os.Stat(name); serr == nil {
			if st.IsDir() {
				return fmt.Sprintf("%s: is a directory, not a command", name), 126
			}
			return fmt.Sprintf("%s: cannot execute: not executable (mode %v): %v", name, st.Mode().Perm(), err), 126
		}
		return fmt.Sprintf("%s: no such file", name), 127
	}
	return fmt.Sprintf("%s: command not found (not in $PATH)", name), 127
}

// Child is a command started under the barrier: it has a pid but has not
// exec'd the command yet.
type Child struct {
	Cmd     *exec.Cmd
	release *os.File
}

// StartChild starts argv held at the barrier with the given stdio (the
// command's own streams are passed through untouched: use os.Stdin, os.Stdout
// and os.Stderr). Call Release once the pid is being traced.
func StartChild(argv []string, stdin io.Reader, stdout, stderr io.Writer) (*Child, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command given after --")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding connscope's own executable to start the command: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the start barrier pipe: %w", err)
	}
	cmd := exec.Command(self, append([]string{childArg}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	r.Close()
	return &Child{Cmd: cmd, release: w}, nil
}

// Pid is the child's process id (the command keeps it across exec).
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Release lets the child exec the command.
func (c *Child) Release() error {
	defer c.release.Close()
	if _, err := c.release.Write([]byte{1}); err != nil {
		return fmt.Errorf("releasing the command: %w", err)
	}
	return nil
}

// Wait waits for the command and returns its exit code the way a shell
// reports it (128+signal when killed by a signal).
func (c *Child) Wait() (int, error) {
	err := c.Cmd.Wait()
	if err == nil {
		return 0, nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	return 1, err
}
