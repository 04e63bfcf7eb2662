package live

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/capture"
	"github.com/connscope/connscope/event"
)

// A flow built by hand: raw IPv4 frames (LINKTYPE_RAW) decoded by the
// capture package as the live capture does.
type testFlow struct {
	client, server netip.AddrPort
	cliSeq, srvSeq uint32
	s              *scrubber
	t              *testing.T
}

func newTestFlow(t *testing.T, serverPort uint16) *testFlow {
	f := &testFlow{
		client: netip.MustParseAddrPort("10.0.0.1:40000"),
		server: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), serverPort),
		cliSeq: 1000, srvSeq: 5000,
		s: newScrubber(), t: t,
	}
	f.send(true, event.TCPSyn, nil)
	f.send(false, event.TCPSyn|event.TCPAck, nil)
	f.send(true, event.TCPAck, nil)
	return f
}

// send scrubs one segment and returns its payload as it would be written.
func (f *testFlow) send(fromClient bool, flags uint8, payload []byte) []byte {
	f.t.Helper()
	src, dst, seq, ack := f.client, f.server, f.cliSeq, f.srvSeq
	if !fromClient {
		src, dst, seq, ack = f.server, f.client, f.srvSeq, f.cliSeq
	}
	frame := rawTCP(src, dst, seq, ack, flags, payload)
	p := decodeRaw(f.t, frame)
	if !f.s.frame(p) {
		f.t.Fatalf("scrubber refused a frame it should locate")
	}
	adv := uint32(len(payload))
	if flags&event.TCPSyn != 0 {
		adv++
	}
	if fromClient {
		f.cliSeq += adv
	} else {
		f.srvSeq += adv
	}
	return p.Frame.Data[len(frame)-len(payload):]
}

// rawTCP builds an IPv4/TCP packet with a 20-byte TCP header.
func rawTCP(src, dst netip.AddrPort, seq, ack uint32, flags uint8, payload []byte) []byte {
	b := make([]byte, 40+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64
	b[9] = event.ProtoTCP
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	binary.BigEndian.PutUint16(b[20:], src.Port())
	binary.BigEndian.PutUint16(b[22:], dst.Port())
	binary.BigEndian.PutUint32(b[24:], seq)
	binary.BigEndian.PutUint32(b[28:], ack)
	b[32] = 5 << 4
	b[33] = flags
	binary.BigEndian.PutUint16(b[34:], 65535)
	copy(b[40:], payload)
	return b
}

// decodeRaw decodes a raw IPv4 frame through the capture package's reader
// (a pcap file in memory), and attaches the frame as a live capture would.
func decodeRaw(t *testing.T, frame []byte) *event.Packet {
	t.Helper()
	var file bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	file.Write(hdr)
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	file.Write(rec)
	file.Write(frame)
	r, err := capture.NewReader(&file, "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Next()
	if err != nil {
		t.Fatalf("decoding the test frame: %v", err)
	}
	p = p.Clone()
	p.Frame = &event.Frame{Data: append([]byte(nil), frame...), LinkType: 101, WireLen: len(frame)}
	return p
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// A real HandshakeResponse41 (mariadb client 10.11, CLIENT_PLUGIN_AUTH_LENENC,
// connect attributes) from testdata/captures/wrong-password-mariadb.any.pcap
// frame 6: user "lab", a 20-byte mysql_native_password auth response.
var (
	handshakeMariaDB = mustHex("d300000184a2bf000000100021000000000000000000000000000000000000001d0000006c6162001433ad0ab3f26a82b8ebccb9d575cc845c8e14fcf06d7973716c5f6e61746976655f70617373776f72640083035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f7069640531323635300f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d067838365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f73740d3139382e35312e3130302e3130")
	authMariaDB      = mustHex("33ad0ab3f26a82b8ebccb9d575cc845c8e14fcf0")
	// PHP mysqlnd's, from wrong-password-php.any.pcap frame 6
	// (CLIENT_SECURE_CONNECTION with a 1-byte auth length).
	handshakePHP = mustHex("8000000185a21a00000000c00800000000000000000000000000000000000000000000006c61620014bc6ab0a6eb3868b600747cb905e37b24597628646d7973716c5f6e61746976655f70617373776f726400300c5f636c69656e745f6e616d65076d7973716c6e640c5f7365727665725f686f73740d3139382e35312e3130302e3130")
	authPHP      = mustHex("bc6ab0a6eb3868b600747cb905e37b2459762864")
	// A MariaDB greeting's first bytes (enough for the scrubber to tell MySQL).
	greeting = mustHex("5b0000000a31302e31312e362d4d617269614442000800000041414141414141410000")
)

// scrubbedHandshake checks that a HandshakeResponse, scrubbed, lost exactly
// the auth response: same length, zeros there, every other byte kept.
func checkHandshake(t *testing.T, orig, got, auth []byte) {
	t.Helper()
	if len(got) != len(orig) {
		t.Fatalf("length %d, want %d", len(got), len(orig))
	}
	i := bytes.Index(orig, auth)
	if bytes.Contains(got, auth) || i < 0 {
		t.Fatalf("auth response %x still in the scrubbed packet %x", auth, got)
	}
	want := append([]byte(nil), orig...)
	clear(want[i : i+len(auth)])
	if !bytes.Equal(got, want) {
		t.Errorf("scrubbed packet\n got %x\nwant %x", got, want)
	}
}

func TestScrubMySQLHandshakeResponse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handshake []byte
		auth      []byte
	}{
		{"mariadb client, lenenc auth", handshakeMariaDB, authMariaDB},
		{"php mysqlnd, 1-byte auth length", handshakePHP, authPHP},
	} {
		// The response whole, and cut into two segments at every offset:
		// the result must not depend on where TCP split it.
		for split := 0; split < len(tc.handshake); split++ {
			t.Run(fmt.Sprintf("%s/split%d", tc.name, split), func(t *testing.T) {
				f := newTestFlow(t, 3306)
				f.send(false, event.TCPAck|event.TCPPsh, greeting)
				var got []byte
				if split == 0 {
					got = f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), tc.handshake...))
				} else {
					got = append(got, f.send(true, event.TCPAck, append([]byte(nil), tc.handshake[:split]...))...)
					got = append(got, f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), tc.handshake[split:]...))...)
				}
				checkHandshake(t, tc.handshake, got, tc.auth)
			})
		}
	}
}

func TestScrubMySQLLaterPackets(t *testing.T) {
	f := newTestFlow(t, 3306)
	f.send(false, event.TCPAck|event.TCPPsh, greeting)
	f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), handshakeMariaDB...))
	f.send(false, event.TCPAck|event.TCPPsh, mustHex("160000fe6d7973716c5f636c6561725f70617373776f726400")) // AuthSwitchRequest
	// AuthSwitchResponse for mysql_clear_password: the plaintext password.
	clearPw := append(mustHex("0b000003"), []byte("secretpass\x00")...)
	got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), clearPw...))
	want := append(mustHex("0b000003"), make([]byte, 11)...)
	if !bytes.Equal(got, want) {
		t.Errorf("AuthSwitchResponse scrubbed to %q, want its header and zeros %q", got, want)
	}
	// A retransmission of the HandshakeResponse is scrubbed the same way.
	f.cliSeq -= uint32(len(handshakeMariaDB) + len(clearPw))
	got = f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), handshakeMariaDB...))
	checkHandshake(t, handshakeMariaDB, got, authMariaDB)
}

func TestScrubMySQLSSLRequestKeepsTLS(t *testing.T) {
	f := newTestFlow(t, 3306)
	f.send(false, event.TCPAck|event.TCPPsh, greeting)
	ssl := mustHex("2000000184aebf000000000121") // caps with CLIENT_SSL, ...
	ssl = append(ssl, make([]byte, 36-len(ssl))...)
	hello := append(mustHex("160301002e01"), bytes.Repeat([]byte{0xab}, 45)...)
	in := append(append([]byte(nil), ssl...), hello...)
	if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), in...)); !bytes.Equal(got, in) {
		t.Errorf("SSLRequest + ClientHello scrubbed to %x, want them kept %x", got, in)
	}
}

func TestScrubHTTPBasicAuth(t *testing.T) {
	// What curl http://alice:secretpw@127.0.0.1:8080/ sends.
	req := "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Basic YWxpY2U6c2VjcmV0cHc=\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
	f := newTestFlow(t, 8080)
	got := f.send(true, event.TCPAck|event.TCPPsh, []byte(req))
	want := append([]byte(req[:keptClientBytes]), make([]byte, len(req)-keptClientBytes)...)
	if !bytes.Equal(got, want) {
		t.Errorf("HTTP request scrubbed to %q, want %q", got, want)
	}
	// The server's answer is kept; a second request is blanked whole.
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	if got := f.send(false, event.TCPAck|event.TCPPsh, append([]byte(nil), resp...)); !bytes.Equal(got, resp) {
		t.Errorf("server payload changed: %q", got)
	}
	if got := f.send(true, event.TCPAck|event.TCPPsh, []byte(req)); !bytes.Equal(got, make([]byte, len(req))) {
		t.Errorf("second request scrubbed to %q, want zeros", got)
	}
}

func pgMsg(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func pgStartup() []byte {
	body := []byte("user\x00alice\x00database\x00shop\x00\x00")
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(8+len(body)))
	binary.BigEndian.PutUint32(b[4:], 196608)
	return append(b, body...)
}

func TestScrubPostgres(t *testing.T) {
	startup := pgStartup()
	md5 := pgMsg('p', []byte("md5a3556571e93b0d20722ba62be61e8c2d\x00"))
	saslData := "n,,n=,r=rOprNGfwEbeRWgbNEkqO%hvYDpWU"
	sasl := pgMsg('p', append([]byte("SCRAM-SHA-256\x00\x00\x00\x00\x24"), saslData...))
	saslFinal := pgMsg('p', []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUx,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	query := pgMsg('Q', []byte("ALTER USER alice PASSWORD 'hunter2'\x00"))
	blanked := func(m []byte) []byte { return append(append([]byte(nil), m[:5]...), make([]byte, len(m)-5)...) }

	f := newTestFlow(t, 5432)
	if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), startup...)); !bytes.Equal(got, startup) {
		t.Errorf("StartupMessage scrubbed to %q, want it kept", got)
	}
	f.send(false, event.TCPAck|event.TCPPsh, pgMsg('R', []byte{0, 0, 0, 5, 1, 2, 3, 4}))
	for _, m := range [][]byte{md5, saslFinal, query} {
		if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), m...)); !bytes.Equal(got, blanked(m)) {
			t.Errorf("message %q scrubbed to %q, want %q", m, got, blanked(m))
		}
	}
	// A SASLInitialResponse keeps its mechanism and data length (the
	// analysis tells it from a PasswordMessage by them), not its data.
	wantSASL := append(append([]byte(nil), sasl[:len(sasl)-len(saslData)]...), make([]byte, len(saslData))...)
	if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), sasl...)); !bytes.Equal(got, wantSASL) {
		t.Errorf("SASLInitialResponse scrubbed to %q, want %q", got, wantSASL)
	}

	// A password among the startup parameters is blanked, the rest kept.
	f = newTestFlow(t, 5432)
	body := []byte("user\x00alice\x00password\x00hunter2\x00database\x00shop\x00\x00")
	withPw := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(withPw, uint32(8+len(body)))
	binary.BigEndian.PutUint32(withPw[4:], 196608)
	withPw = append(withPw, body...)
	want := bytes.Replace(withPw, []byte("hunter2"), make([]byte, 7), 1)
	if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), withPw...)); !bytes.Equal(got, want) {
		t.Errorf("StartupMessage with a password scrubbed to %q, want %q", got, want)
	}

	// SSLRequest, then TLS: kept.
	f = newTestFlow(t, 5432)
	ssl := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	hello := append(mustHex("160301002e01"), bytes.Repeat([]byte{0xcd}, 45)...)
	f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), ssl...))
	f.send(false, event.TCPAck|event.TCPPsh, []byte("S"))
	if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), hello...)); !bytes.Equal(got, hello) {
		t.Errorf("ClientHello after SSLRequest scrubbed to %x, want it kept", got)
	}

	// SSLRequest refused ('N'): startup, then a cleartext password message.
	f = newTestFlow(t, 5432)
	f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), ssl...))
	f.send(false, event.TCPAck|event.TCPPsh, []byte("N"))
	f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), startup...))
	pw := pgMsg('p', []byte("hunter2\x00"))
	if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), pw...)); !bytes.Equal(got, blanked(pw)) {
		t.Errorf("cleartext PasswordMessage scrubbed to %q, want %q", got, blanked(pw))
	}
}

// An ICMP "fragmentation needed" quoting the client's HandshakeResponse
// (576 bytes of quote, as routers send): the quoted headers stay, the
// quoted payload is blanked.
func TestScrubICMPQuote(t *testing.T) {
	client, server := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:3306")
	seg := rawTCP(client, server, 1001, 5001, event.TCPAck|event.TCPPsh, handshakeMariaDB)
	icmp := append([]byte{3, 4, 0, 0, 0, 0, 0x05, 0xdc}, seg...)
	outer := make([]byte, 20, 20+len(icmp))
	outer[0] = 0x45
	binary.BigEndian.PutUint16(outer[2:], uint16(20+len(icmp)))
	outer[8], outer[9] = 64, 1
	copy(outer[12:], []byte{10, 0, 0, 254})
	copy(outer[16:], []byte{10, 0, 0, 1})
	frame := append(outer, icmp...)
	p := decodeRaw(t, frame)
	if !newScrubber().frame(p) {
		t.Fatal("frame refused")
	}
	got := p.Frame.Data
	headers := 20 + 8 + 40
	if !bytes.Equal(got[:headers], frame[:headers]) {
		t.Errorf("headers changed:\n got %x\nwant %x", got[:headers], frame[:headers])
	}
	if !bytes.Equal(got[headers:], make([]byte, len(handshakeMariaDB))) || bytes.Contains(got, authMariaDB) {
		t.Errorf("quoted payload not blanked: %x", got[headers:])
	}
	// What the analysis reads from the error is unchanged.
	again := decodeRaw(t, got)
	if again.ICMP == nil || *again.ICMP != *p.ICMP {
		t.Errorf("decoded ICMP error changed: %+v, was %+v", again.ICMP, p.ICMP)
	}
}

func TestScrubKeepsDNSOverTCP(t *testing.T) {
	// A query for db.example, A, with its 2-byte TCP length prefix.
	q := mustHex("001c" + "123401000001000000000000" + "026462076578616d706c6500" + "00010001")
	f := newTestFlow(t, 53)
	if got := f.send(true, event.TCPAck|event.TCPPsh, append([]byte(nil), q...)); !bytes.Equal(got, q) {
		t.Errorf("DNS query over TCP scrubbed to %x, want it kept (the analysis reads it)", got)
	}
}

func TestScrubWithoutHandshakeBlanksClient(t *testing.T) {
	s := newScrubber()
	payload := []byte("USER alice\r\nPASS secret\r\n")
	frame := rawTCP(netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:21"), 77, 88, event.TCPAck|event.TCPPsh, payload)
	p := decodeRaw(t, frame)
	s.frame(p)
	if got := p.Frame.Data[40:]; !bytes.Equal(got, make([]byte, len(payload))) {
		t.Errorf("client payload of a flow whose SYN was not seen scrubbed to %q, want zeros", got)
	}
}

// TestScrubLabCaptures scrubs every lab capture as a -w recording would and
// checks that `analyze` finds the same connects, outcomes and users in the
// scrubbed file, and that tshark finds no MySQL auth response in it.
func TestScrubLabCaptures(t *testing.T) {
	files, _ := filepath.Glob("../testdata/captures/*.pcap*")
	if len(files) == 0 {
		t.Fatal("no lab captures in ../testdata/captures")
	}
	_, tsharkErr := exec.LookPath("tshark")
	authSeen := 0
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			scrubbed := filepath.Join(t.TempDir(), "scrubbed.pcapng")
			if err := scrubFile(name, scrubbed); err != nil {
				t.Fatal(err)
			}
			if a, b := analyzeSignature(t, name), analyzeSignature(t, scrubbed); a != b {
				t.Errorf("analysis differs after scrubbing\noriginal:\n%s\nscrubbed:\n%s", a, b)
			}
			if tsharkErr != nil || !tsharkChecked[strings.SplitN(filepath.Base(name), ".", 2)[0]] {
				return
			}
			orig := tsharkAuth(t, name)
			after := tsharkAuth(t, scrubbed)
			if len(orig) != len(after) {
				t.Fatalf("tshark finds %d login requests in the original, %d after scrubbing", len(orig), len(after))
			}
			raw, err := os.ReadFile(scrubbed)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range orig {
				if strings.Trim(a, "0") == "" {
					continue
				}
				authSeen++
				if strings.Trim(after[i], "0") != "" {
					t.Errorf("login request %d: auth response %s after scrubbing (was %s)", i+1, after[i], a)
				}
				if b, _ := hex.DecodeString(a); bytes.Contains(raw, b) {
					t.Errorf("auth response %s is still in the scrubbed file", a)
				}
			}
		})
	}
	if tsharkErr == nil && authSeen == 0 {
		t.Error("no lab capture had an auth response to scrub: the check above checked nothing")
	}
}

// tsharkChecked are the captures whose login requests tshark compares
// (tshark takes about half a second per file).
var tsharkChecked = map[string]bool{
	"wrong-password-mariadb": true, "wrong-password-php": true,
	"ok-v6-mariadb": true, "ok-name-php": true,
	"db-denied-mariadb": true, "tls-required-php": true, "too-many-connections-login-php": true,
}

// scrubFile copies a capture through the scrubber into a pcapng file.
func scrubFile(in, out string) error {
	r, err := capture.Open(in)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w, err := capture.NewPcapngWriter(f, "")
	if err != nil {
		return err
	}
	s := newScrubber()
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		data, link, _ := r.LastFrame()
		p = p.Clone()
		// The wire length as recorded: a snap-length capture's cut frames
		// stay cut in the copy (and in a live recording).
		p.Frame = &event.Frame{Data: append([]byte(nil), data...), LinkType: uint16(link), WireLen: max(r.LastWireLen(), len(data))}
		if !s.frame(p) {
			return fmt.Errorf("%s: frame %d: payload not located", in, p.Number)
		}
		if err := w.WriteEvent(p); err != nil {
			return err
		}
	}
	return w.Close()
}

// analyzeSignature is what the analysis says of a file, attempt by attempt.
func analyzeSignature(t *testing.T, name string) string {
	t.Helper()
	r, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b strings.Builder
	analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) {
		fmt.Fprintf(&b, "%s %s:", c.Name, c.Outcome)
		for _, a := range c.Attempts {
			fmt.Fprintf(&b, " [%s %s %s", a.Client, a.Server, a.Outcome)
			if a.MySQL != nil {
				fmt.Fprintf(&b, " user=%q err=%d tls=%v", a.MySQL.User, a.MySQL.ErrorCode, a.MySQL.TLSRequested)
			}
			b.WriteString("]")
		}
		b.WriteString("\n")
	}})
	return b.String()
}

// tsharkAuth lists the auth response tshark decodes in each MySQL login request.
func tsharkAuth(t *testing.T, name string) []string {
	t.Helper()
	out, err := exec.Command("tshark", "-r", name, "-Y", "mysql.user", "-T", "fields", "-e", "mysql.user", "-e", "mysql.passwd").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", name, err)
	}
	var auth []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if f[0] == "" {
			t.Errorf("%s: a login request without its user name: %q", name, line)
		}
		auth = append(auth, f[len(f)-1])
	}
	return auth
}

// BenchmarkScrub measures the scrubber per recorded frame, over the frames
// of a lab capture with MySQL logins (copied fresh for each round).
func BenchmarkScrub(b *testing.B) {
	r, err := capture.Open("../testdata/captures/wrong-password-mariadb.any.pcap")
	if err != nil {
		b.Fatal(err)
	}
	var pkts []*event.Packet
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		data, link, _ := r.LastFrame()
		p = p.Clone()
		// The wire length as recorded: a snap-length capture's cut frames
		// stay cut in the copy (and in a live recording).
		p.Frame = &event.Frame{Data: append([]byte(nil), data...), LinkType: uint16(link), WireLen: max(r.LastWireLen(), len(data))}
		pkts = append(pkts, p)
	}
	r.Close()
	orig := make([][]byte, len(pkts))
	for i, p := range pkts {
		orig[i] = append([]byte(nil), p.Frame.Data...)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := newScrubber()
		for j, p := range pkts {
			copy(p.Frame.Data, orig[j])
			s.frame(p)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/frame")
}

// FuzzScrub feeds arbitrary client bytes, cut into segments anywhere, to a
// MySQL, a PostgreSQL and an unknown flow: no panic, lengths kept, and no
// byte is ever changed to anything but zero.
func FuzzScrub(f *testing.F) {
	f.Add(handshakeMariaDB, uint8(40), uint8(0))
	f.Add(append(pgStartup(), pgMsg('p', []byte("SCRAM-SHA-256\x00\xff\xff\xff\xff"))...), uint8(3), uint8(1))
	f.Add([]byte("GET / HTTP/1.1\r\n"), uint8(5), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8, kind uint8) {
		port := []uint16{3306, 5432, 8080}[kind%3]
		fl := newTestFlow(t, port)
		if port == 3306 {
			fl.send(false, event.TCPAck|event.TCPPsh, greeting)
		}
		for len(data) > 0 {
			n := int(cut)%len(data) + 1
			seg := append([]byte(nil), data[:n]...)
			got := fl.send(true, event.TCPAck|event.TCPPsh, seg)
			if len(got) != n {
				t.Fatalf("segment of %d bytes written as %d", n, len(got))
			}
			for i := range got {
				if got[i] != data[i] && got[i] != 0 {
					t.Fatalf("byte %d changed to %#x, not blanked", i, got[i])
				}
			}
			data = data[n:]
		}
	})
}
