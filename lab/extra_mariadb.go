package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ExtraMariaDB is a mariadbd started for one test in cs-server, beside the
// lab's own servers, with settings the lab's servers must not have (e.g.
// bind-address=127.0.0.1 or skip-networking). Its state lives in
// Dir()/NAME, so the lab's teardown removes it; Stop ends the process.
type ExtraMariaDB struct {
	Dir    string
	Socket string
	Port   int
	cmd    *exec.Cmd
	done   chan error
}

// StartMariaDB initialises a fresh data directory (mariadb-install-db,
// root by unix socket only, about 4 s) and starts mariadbd in cs-server with
// --no-defaults, its own socket, port and the extra options ("bind-address=
// 127.0.0.1", "skip-networking", ...), and waits until it answers a ping on
// its socket. The lab must be up (Up or Acquire).
func StartMariaDB(ctx context.Context, name string, port int, extra ...string) (*ExtraMariaDB, error) {
	dir := filepath.Join(Dir(), name)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "chown", "mysql:", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown mysql %s: %v: %s", dir, err, out)
	}
	m := &ExtraMariaDB{Dir: dir, Socket: filepath.Join(dir, "mysqld.sock"), Port: port, done: make(chan error, 1)}
	install := exec.CommandContext(ctx, "mariadb-install-db", "--no-defaults", "--datadir="+filepath.Join(dir, "data"),
		"--user=mysql", "--auth-root-authentication-method=socket", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db for %s: %v\n%s", name, err, out)
	}
	args := []string{"netns", "exec", NSServer, "mariadbd", "--no-defaults",
		"--datadir=" + filepath.Join(dir, "data"), "--socket=" + m.Socket, "--port=" + strconv.Itoa(port),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"), "--log-error=" + filepath.Join(dir, "error.log"),
		"--user=mysql", "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=16M", "--performance-schema=OFF"}
	for _, e := range extra {
		args = append(args, "--"+e)
	}
	m.cmd = exec.Command("ip", args...)
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting mariadbd %s: %v", name, err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ping := exec.CommandContext(ctx, "mariadb-admin", "--no-defaults", "-S", m.Socket, "-u", "root", "ping")
		if ping.Run() == nil {
			return m, nil
		}
		select {
		case err := <-m.done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("mariadbd %s exited (%v); its error log:\n%s", name, err, log)
		case <-ctx.Done():
			m.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("mariadbd %s did not answer a ping within 60 s; see %s/error.log", name, dir)
		}
	}
}

// PID is the server's process id.
func (m *ExtraMariaDB) PID() int { return m.cmd.Process.Pid }

// Stop ends the server (SIGTERM, then SIGKILL after 20 s) and waits for it.
func (m *ExtraMariaDB) Stop() {
	if m == nil || m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		m.cmd.Process.Kill()
		<-m.done
	}
}
