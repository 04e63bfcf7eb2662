package bpf

// The test binary doubles as a helper process (re-executed with
// CSBPF_HELPER set): a process of its own is needed to connect as another
// user, to be a child the tracer follows, or to run without privileges.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const helperEnv = "CSBPF_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode, os.Getenv("CSBPF_ARG")))
	}
	code := m.Run()
	if publicBinaryDir != "" {
		os.RemoveAll(publicBinaryDir)
	}
	os.Exit(code)
}

// helperMain runs one helper action and prints its result on stdout.
func helperMain(mode, arg string) int {
	switch mode {
	case "unix-connect":
		// raw syscalls: report connect()'s errno exactly
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fmt.Println("socket:", err)
			return 2
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: arg})
		fmt.Printf("pid=%d fd=%d errno=%s\n", os.Getpid(), fd, errnoName(err))
		return 0
	case "tcp-connect":
		c, err := net.DialTimeout("tcp", arg, 2*time.Second)
		if err == nil {
			c.Close()
		}
		fmt.Printf("pid=%d err=%v\n", os.Getpid(), err)
		return 0
	case "fork-tcp-connect":
		// a grandchild: this helper starts another helper that connects
		out, err := helperCommand("tcp-connect", arg).CombinedOutput()
		fmt.Printf("pid=%d child: %s err=%v\n", os.Getpid(), strings.TrimSpace(string(out)), err)
		return 0
	case "check-support":
		fmt.Println(CheckSupport())
		_, err := Open(Options{})
		fmt.Println(err)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

func errnoName(err error) string {
	if err == nil {
		return "0"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// helperCommand is the test binary re-executed as a helper.
func helperCommand(mode, arg string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "CSBPF_ARG="+arg)
	return cmd
}

// asNobody makes cmd run as uid/gid 65534 without capabilities. The test
// binary lives in go test's private (0700) build directory, so nobody runs a
// world-readable copy, also named bpf.test (the comm the tests expect).
func asNobody(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	publicBinaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "csbpf-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		var data []byte
		if err == nil {
			data, err = os.ReadFile(os.Args[0])
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "bpf.test"), data, 0o755)
		}
		if err != nil {
			publicBinaryErr = err
			return
		}
		publicBinaryDir = dir
	})
	if publicBinaryErr != nil {
		t.Fatalf("copying the test binary for uid 65534: %v", publicBinaryErr)
	}
	cmd.Path = filepath.Join(publicBinaryDir, "bpf.test")
	cmd.Args[0] = cmd.Path
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd
}

var (
	publicBinaryOnce sync.Once
	publicBinaryDir  string
	publicBinaryErr  error
)

// traceSelf opens a tracer of this test process's own events (skipped
// where eBPF cannot run), closed when the test ends.
func traceSelf(t *testing.T) *Tracer {
	t.Helper()
	requireEBPF(t)
	tr, err := Open(Options{PIDs: []uint32{uint32(os.Getpid())}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}
