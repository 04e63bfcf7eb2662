package analyze

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze/mysql"
)

// clientAddr returns the text netip writes for the client's address,
// whether it reuses the Client text (written canonically) or not.
func TestClientAddr(t *testing.T) {
	for _, client := range []string{"10.0.0.5:41234", "[2001:db8::5]:3306", "[fe80::1%eth0]:5432", "[::ffff:10.0.0.5]:80",
		"[2001:DB8:0:0::5]:3306", "[2001:0db8::5]:1", "0.0.0.0:0", "unix", "", "10.0.0.5", "[::1]", "[10.0.0.5]:80", "300.1.1.1:5",
		"10.0.0.5:99999", "[2001:db8::5]:x"} {
		ap, _ := netip.ParseAddrPort(client)
		want := ap.Addr().String()
		w := wordCtx{at: &Attempt{Client: client}}
		if got := w.clientAddr(); got != want {
			t.Errorf("clientAddr of %q = %q, want %q", client, got, want)
		}
		// The server's address and port, read from its text.
		wantAddr, wantPort := client, uint16(0)
		if ap, err := netip.ParseAddrPort(client); err == nil {
			wantAddr, wantPort = ap.Addr().String(), ap.Port()
		}
		w = newWordCtx(&Attempt{Server: client}, &Facts{})
		if got := w.addr(); got != wantAddr {
			t.Errorf("addr of server %q = %q, want %q", client, got, wantAddr)
		}
		if got := w.port(); got != wantPort {
			t.Errorf("port of server %q = %d, want %d", client, got, wantPort)
		}
	}
}

// Every worded protocol attempt asks for the client's address: one the
// engine wrote costs no new string.
func TestClientAddrNoAlloc(t *testing.T) {
	for _, client := range []string{"10.0.0.5:41234", "[2001:db8::5]:3306"} {
		w := wordCtx{at: &Attempt{Client: client}}
		if n := testing.AllocsPerRun(100, func() { w.clientAddr() }); n != 0 {
			t.Errorf("clientAddr of %q: %v allocations, want 0", client, n)
		}
	}
}

// The table marks exactly the protocols' WrongBanner reasons (causesOf
// gives them ReasonClientSilentToBanner's causes by the mark).
func TestWrongBannerMarked(t *testing.T) {
	marked := 0
	for r, ws := range reasonWords {
		if ws.wrongBanner != wrongBanner(r) {
			t.Errorf("reason %s: marked %v, wrongBanner %v", r, ws.wrongBanner, wrongBanner(r))
		}
		if ws.wrongBanner {
			marked++
		}
	}
	if marked == 0 {
		t.Error("no WrongBanner reason marked (mysql's app.not_mysql_banner is one)")
	}
}

// A protocol's causes name the attempt's client by its address, IPv4 or
// IPv6, as the attempt's Client has it (MySQL's 1130 names it).
func TestProtocolCausesNameClient(t *testing.T) {
	for client, want := range map[string]string{"10.1.0.26:35903": "10.1.0.26", "[fd00:1::7]:41000": "fd00:1::7", "[2001:DB8::5]:1": "2001:db8::5"} {
		at := &Attempt{Client: client, Server: "10.2.0.2:3306", Reason: reasonByID(mysql.ReasonErrAtGreeting),
			Facts: &Facts{Protocol: "MySQL"}, App: &App{Protocol: "mysql", Info: &mysql.Info{ErrorCode: 1130}}}
		got := strings.Join(causesOf(newWordCtx(at, at.Facts)), "\n")
		if !strings.Contains(got, "do not include "+want+" as the server sees it") {
			t.Errorf("client %s: causes %q, want them to name %s", client, got, want)
		}
	}
}

// What a protocol's ConnCauses sees of an attempt: the server's port over
// TCP, the socket path over a unix socket.
func TestWordTarget(t *testing.T) {
	for _, tc := range []struct {
		client, server string
		port           uint16
		socket         string
	}{
		{"10.1.0.5:40000", "10.2.0.5:3306", 3306, ""},
		{"[fd00:1::5]:40000", "[fd00:2::1]:5432", 5432, ""},
		{"unix", "/run/mysqld/mysqld.sock", 0, "/run/mysqld/mysqld.sock"},
	} {
		at := &Attempt{Client: tc.client, Server: tc.server, Comm: "mariadb"}
		got := newWordCtx(at, &Facts{}).target()
		if got.Port() != tc.port || got.Socket != tc.socket || got.Comm != "mariadb" {
			t.Errorf("target of %s -> %s: port %d, socket %q, comm %q; want %d, %q, mariadb", tc.client, tc.server, got.Port(), got.Socket, got.Comm, tc.port, tc.socket)
		}
	}
}
