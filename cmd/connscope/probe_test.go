package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runProbe(env map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = probeCommand(args, nil, &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), code
}

func TestProbeUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "give exactly one TARGET (got 0)"},
		{[]string{"a", "b"}, 2, "give exactly one TARGET (got 2)"},
		{[]string{"-pSECRET", "h"}, 2, "never taken from the command line"},
		{[]string{"--password=SECRET", "h"}, 2, "never taken from the command line"},
		{[]string{"--timeout", "0s", "h"}, 2, "must be positive"},
		{[]string{"--format", "xml", "h"}, 2, `--format "xml"`},
		{[]string{"--tls", "h"}, 2, "give --user too"},
		{[]string{"mysql://u:SECRET@h"}, 2, "password in the URL is refused"},
		{[]string{"--nope", "h"}, 2, "flag provided but not defined: -nope"},
		{[]string{"h:99999"}, 2, "port \"99999\""},
		{[]string{"-h"}, 0, ""},
	}
	for _, tc := range tests {
		out, errb, code := runProbe(nil, tc.args...)
		if code != tc.code || !strings.Contains(errb, tc.err) {
			t.Errorf("probe %q: exit %d, stderr %q; want %d and %q", tc.args, code, errb, tc.code, tc.err)
		}
		if strings.Contains(out+errb, "SECRET") {
			t.Errorf("probe %q repeats the password: %q", tc.args, out+errb)
		}
		if tc.code == 0 && !strings.Contains(out, "Usage: connscope probe") {
			t.Errorf("-h: %q", out)
		}
	}
}

// greetingServer is a real listener sending a MariaDB greeting, then
// reading the client's login and answering ERR 1045 (as the server would
// for a wrong password), so the login path runs end to end.
func greetingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := []byte{10}
	g = append(g, "5.5.5-10.11.6-MariaDB"...)
	g = append(g, 0)
	g = binary.LittleEndian.AppendUint32(g, 7)
	g = append(g, "abcdefgh"...)
	g = append(g, 0)
	caps := uint32(0x0000a20f | 0x80000 | 0x8000)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps))
	g = append(g, 8)
	g = binary.LittleEndian.AppendUint16(g, 2)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps>>16))
	g = append(g, 21)
	g = append(g, make([]byte, 10)...)
	g = append(g, "ijklmnopqrst"...)
	g = append(g, 0)
	g = append(g, "mysql_native_password"...)
	g = append(g, 0)
	frame := func(seq byte, p []byte) []byte {
		h := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
		h[3] = seq
		return append(h, p...)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write(frame(0, g))
				r := bufio.NewReader(c)
				var h [4]byte
				if _, err := r.Read(h[:]); err != nil {
					return
				}
				n := int(binary.LittleEndian.Uint32(append(h[:3:3], 0)))
				buf := make([]byte, n)
				if _, err := io_ReadFull(r, buf); err != nil {
					return
				}
				msg := "Access denied for user 'app'@'localhost' (using password: YES)"
				c.Write(frame(2, append([]byte{0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0'}, msg...)))
			}()
		}
	}()
	return l.Addr().String()
}

func io_ReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestProbeLoginJSON(t *testing.T) {
	addr := greetingServer(t)
	const pw = "S3cr3t-pw"
	dir := t.TempDir()
	outFile := filepath.Join(dir, "report.json")
	// Flags after the target are accepted too.
	out, errb, code := runProbe(map[string]string{"MYSQL_PWD": pw}, addr, "--user", "app", "--format", "json", "-o", outFile, "--timeout", "2s")
	if code != 1 {
		t.Fatalf("exit %d (want 1: the login failed); stderr %q", code, errb)
	}
	if out != "" {
		t.Errorf("with -o, stdout has %q", out)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(outFile); st.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v, want 0600", st.Mode().Perm())
	}
	if bytes.Contains(data, []byte(pw)) {
		t.Fatalf("the report contains the password")
	}
	checks := map[string]string{}
	var login map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch rec["kind"] {
		case "check":
			checks[rec["id"].(string)] = rec["status"].(string)
		case "address":
			login, _ = rec["login"].(map[string]any)
		}
	}
	if checks["connect"] != "ok" || checks["greeting"] != "ok" || checks["login"] != "failed" {
		t.Errorf("checks %v", checks)
	}
	if login == nil || login["error_code"] != float64(1045) || login["password_from"] != "MYSQL_PWD" || login["outcome"] != "auth_failed" {
		t.Errorf("login %v", login)
	}

	// Redacted: the address and the user are gone, the code stays.
	out, _, _ = runProbe(map[string]string{"MYSQL_PWD": pw}, "--redact", "--user", "app", addr)
	host, _, _ := net.SplitHostPort(addr)
	for _, leak := range []string{host, "'app'", "login as app", pw} {
		if strings.Contains(out, leak) {
			t.Errorf("redacted output contains %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "ERROR 1045") || !strings.Contains(out, "ip4-1") || !strings.Contains(out, "user-1") {
		t.Errorf("redacted output lacks the error code or the pseudonyms:\n%s", out)
	}
}
