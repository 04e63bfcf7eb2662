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
	"github.com/connscope/connscope/analyze/mysql"
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
	// every frame sent, as captured and as the scrubber left it, for
	// running the analysis on both (flowPcap)
	orig, scrubbed []sentFrame
}

type sentFrame struct {
	data []byte
	wire int
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
	return f.sendCut(fromClient, flags, payload, len(payload))
}

// sendCut scrubs one segment whose capture kept only the first captured
// bytes of its payload (the snap length cut it; the IP header still says
// the whole length), and returns the captured payload as it would be
// written. Sequence numbers advance by the whole payload.
func (f *testFlow) sendCut(fromClient bool, flags uint8, payload []byte, captured int) []byte {
	f.t.Helper()
	src, dst, seq, ack := f.client, f.server, f.cliSeq, f.srvSeq
	if !fromClient {
		src, dst, seq, ack = f.server, f.client, f.srvSeq, f.cliSeq
	}
	frame := rawTCP(src, dst, seq, ack, flags, payload)
	capLen := len(frame) - len(payload) + captured
	p := decodeRawCut(f.t, frame, capLen)
	f.orig = append(f.orig, sentFrame{append([]byte(nil), frame[:capLen]...), len(frame)})
	if !f.s.frame(p) {
		f.t.Fatalf("scrubber refused a frame it should locate")
	}
	f.scrubbed = append(f.scrubbed, sentFrame{p.Frame.Data, len(frame)})
	adv := uint32(len(payload))
	if flags&event.TCPSyn != 0 {
		adv++
	}
	if fromClient {
		f.cliSeq += adv
	} else {
		f.srvSeq += adv
	}
	return p.Frame.Data[capLen-captured:]
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
	return decodeRawCut(t, frame, len(frame))
}

// rawPcap is a pcap file (LINKTYPE_RAW) of the frames, each cut to its
// data with its wire length recorded, 1 ms apart.
func rawPcap(frames []sentFrame) *bytes.Buffer {
	var file bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	file.Write(hdr)
	for i, fr := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], 1_700_000_000)
		binary.LittleEndian.PutUint32(rec[4:], uint32(i*1000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(fr.data)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(fr.wire))
		file.Write(rec)
		file.Write(fr.data)
	}
	return &file
}

// decodeRawCut is decodeRaw for a frame the capture cut to its first
// capLen bytes.
func decodeRawCut(t *testing.T, frame []byte, capLen int) *event.Packet {
	t.Helper()
	file := rawPcap([]sentFrame{{frame[:capLen], len(frame)}})
	r, err := capture.NewReader(file, "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Next()
	if err != nil {
		t.Fatalf("decoding the test frame: %v", err)
	}
	p = p.Clone()
	p.Frame = &event.Frame{Data: append([]byte(nil), frame[:capLen]...), LinkType: 101, WireLen: len(frame)}
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
	authSeen, cutSeen := 0, 0
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			scrubbed := filepath.Join(t.TempDir(), "scrubbed.pcapng")
			if err := scrubFile(name, scrubbed); err != nil {
				t.Fatal(err)
			}
			if a, b := analyzeSignature(t, name), analyzeSignature(t, scrubbed); a != b {
				t.Errorf("analysis differs after scrubbing\noriginal:\n%s\nscrubbed:\n%s", a, b)
			}
			// The copy keeps the cut frames cut (a copy written with
			// captured lengths as wire lengths reads as whole packets
			// that lost their tails).
			a, b := cutFrames(t, name), cutFrames(t, scrubbed)
			if a != b {
				t.Errorf("%d frames cut by the snap length in the original, %d in the scrubbed copy", a, b)
			}
			cutSeen += a
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
	if cutSeen == 0 {
		t.Error("no lab capture had a frame cut by the snap length: the s256 captures are missing or whole, and cut segments went untested")
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

// cutFrames counts the frames of a capture that the snap length cut.
func cutFrames(t *testing.T, name string) int {
	t.Helper()
	r, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if data, _, _ := r.LastFrame(); r.LastWireLen() > len(data) {
			n++
		}
	}
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
	return signatureOf(r)
}

func signatureOf(r analyze.PacketSource) string {
	var b strings.Builder
	analyze.RunSource(r, analyze.Options{OnConnect: func(c *analyze.Connect) {
		fmt.Fprintf(&b, "%s %s:", c.Name, c.Outcome)
		for _, a := range c.Attempts {
			fmt.Fprintf(&b, " [%s %s %s", a.Client, a.Server, a.Outcome)
			if mysqlOf(a) != nil {
				fmt.Fprintf(&b, " user=%q err=%d tls=%v", mysqlOf(a).User, mysqlOf(a).ErrorCode, mysqlOf(a).TLSRequested)
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

// FuzzScrub feeds arbitrary client bytes, cut into segments anywhere (and,
// with snap > 0, each segment captured only to its first snap bytes), to a
// MySQL, a PostgreSQL and an unknown flow: no panic, lengths kept, and no
// byte is ever changed to anything but zero.
func FuzzScrub(f *testing.F) {
	f.Add(handshakeMariaDB, uint8(40), uint8(0), uint8(0))
	f.Add(handshakeMariaDB, uint8(200), uint8(0), uint8(150))
	f.Add(append(pgStartup(), pgMsg('p', []byte("SCRAM-SHA-256\x00\xff\xff\xff\xff"))...), uint8(3), uint8(1), uint8(0))
	f.Add([]byte("GET / HTTP/1.1\r\n"), uint8(5), uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8, kind uint8, snap uint8) {
		port := []uint16{3306, 5432, 8080}[kind%3]
		fl := newTestFlow(t, port)
		if port == 3306 {
			fl.send(false, event.TCPAck|event.TCPPsh, greeting)
		}
		for len(data) > 0 {
			n := int(cut)%len(data) + 1
			c := n
			if snap > 0 {
				c = min(n, int(snap))
			}
			seg := append([]byte(nil), data[:n]...)
			got := fl.sendCut(true, event.TCPAck|event.TCPPsh, seg, c)
			if len(got) != c {
				t.Fatalf("segment of %d bytes (%d captured) written as %d", n, c, len(got))
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

// A whole MariaDB greeting (ok-v6-mariadb.any.pcap), its OK after the
// login and the client's first command, for flows the analysis reads.
var (
	greetingWhole = mustHex("640000000a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531000800000067674f34542c7e5600fef7080200ff81150000000000001d000000725e5e3f5f42696d65326a41006d7973716c5f6e61746976655f70617373776f726400")
	okAfterLogin  = mustHex("0700000200000002000000")
)

// mysqlPacket frames a MySQL packet: 3-byte length, sequence id, payload.
func mysqlPacket(seq byte, payload string) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// cutStep is one segment of a cut-segment scenario: its payload, how much
// of it the capture kept (-1: all), and what the written bytes must be
// (nil: not checked here; the secrets and the analysis still are). A
// segment with skip set was not captured at all (its sequence numbers are
// used up).
type cutStep struct {
	client   bool
	payload  []byte
	captured int
	want     []byte
	skip     bool
}

// blankedAt returns b with the bytes [from, to) zeroed (clamped to b).
func blankedAt(b []byte, spans ...[2]int) []byte {
	out := append([]byte(nil), b...)
	for _, s := range spans {
		clear(out[min(s[0], len(out)):min(s[1], len(out))])
	}
	return out
}

func pgStartupWith(params string) []byte {
	b := make([]byte, 8, 8+len(params)+1)
	binary.BigEndian.PutUint32(b, uint32(8+len(params)+1))
	binary.BigEndian.PutUint32(b[4:], 196608)
	return append(append(b, params...), 0)
}

// TestScrubCutSegments scrubs flows whose segments the snap length cut (the
// IP header says more payload than the frame holds), as a classic-filter
// live capture, a cut AF_PACKET frame or the lab's s256 captures deliver
// them: positions advance by the wire length, the captured bytes are
// scrubbed by their true stream offsets, no secret survives, and the
// analysis of the scrubbed flow says what it says of the original.
func TestScrubCutSegments(t *testing.T) {
	hs := handshakeMariaDB // 215 bytes; auth response at [41, 61)
	authAt := bytes.Index(hs, authMariaDB)
	authEnd := authAt + len(authMariaDB)
	clearPw := mysqlPacket(3, "secretpass\x00")
	authSwitch := mustHex("160000fe6d7973716c5f636c6561725f70617373776f726400") // AuthSwitchRequest: mysql_clear_password
	query := mysqlPacket(0, "\x03SET PASSWORD = PASSWORD('newsecret')")
	headerOnly := func(m []byte) []byte { return blankedAt(m, [2]int{mysql.HeaderLen, len(m)}) }
	sslMySQL := append(mustHex("2000000184aebf000000000121"), make([]byte, 23)...)
	hello := append(mustHex("16030101ff01"), bytes.Repeat([]byte{0xab}, 0x1ff-1)...) // a 517-byte ClientHello record
	finished := append(mustHex("140303000101"+"1603030028"), bytes.Repeat([]byte{0xcd}, 0x28)...)

	startupFull := pgStartupWith("user\x00alice\x00database\x00shop\x00application_name\x00psql\x00password\x00hunter2\x00")
	pgPw := pgMsg('p', []byte("md5a3556571e93b0d20722ba62be61e8c2d\x00"))
	pgSSL := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	pgHeader := func(m []byte) []byte { return blankedAt(m, [2]int{5, len(m)}) }

	for _, tc := range []struct {
		name    string
		port    uint16
		steps   []cutStep
		secrets []string
		verdict string // in the analysis of the original (and so of the scrubbed) flow
	}{
		{
			name: "MySQL HandshakeResponse cut after its auth response, the server's OK not captured: the command shows the login",
			port: 3306,
			steps: []cutStep{
				{client: false, payload: greetingWhole, captured: -1},
				{client: true, payload: hs, captured: 150, want: blankedAt(hs[:150], [2]int{authAt, authEnd})},
				{client: false, payload: okAfterLogin, skip: true},
				{client: true, payload: query, captured: -1, want: headerOnly(query)},
			},
			secrets: []string{string(authMariaDB), "newsecret"},
			verdict: ` ok user="lab"`,
		},
		{
			name: "MySQL HandshakeResponse cut inside its auth response, then mysql_clear_password",
			port: 3306,
			steps: []cutStep{
				{client: false, payload: greetingWhole, captured: -1},
				{client: true, payload: hs, captured: authAt + 7, want: blankedAt(hs[:authAt+7], [2]int{authAt, authEnd})},
				{client: false, payload: authSwitch, captured: -1},
				{client: true, payload: clearPw, captured: -1, want: headerOnly(clearPw)},
				{client: false, payload: okAfterLogin, captured: -1},
				{client: true, payload: query, captured: -1, want: headerOnly(query)},
			},
			secrets: []string{string(authMariaDB[:7]), "secretpass", "newsecret"},
			verdict: ` ok user="lab"`,
		},
		{
			name: "MySQL HandshakeResponse cut in its user name: what is there is kept, the auth response's place is unknown",
			port: 3306,
			steps: []cutStep{
				{client: false, payload: greetingWhole, captured: -1},
				{client: true, payload: hs, captured: 38, want: hs[:38]},
				{client: false, payload: okAfterLogin, captured: -1},
				{client: true, payload: query, captured: -1, want: headerOnly(query)},
			},
			secrets: []string{"newsecret"},
			verdict: ` ok user="la"`,
		},
		{
			// Pipelined commands: the second one's header is partly in
			// the bytes the capture cut, so no later boundary is known.
			// The analysis cannot frame the client from there either
			// (its stream is lost at byte 215+13+2): every later client
			// byte is blanked, headers too, and its verdict comes from
			// the server's OK as before.
			name: "MySQL header in a hole: the place is lost, the rest of the client's bytes are blanked",
			port: 3306,
			steps: []cutStep{
				{client: false, payload: greetingWhole, captured: -1},
				{client: true, payload: hs, captured: -1, want: blankedAt(hs, [2]int{authAt, authEnd})},
				{client: false, payload: okAfterLogin, captured: -1},
				{client: true, payload: append(mysqlPacket(0, "\x03SELECT 1"), query...), captured: 15,
					want: append(headerOnly(mysqlPacket(0, "\x03SELECT 1")), 0, 0)},
				{client: true, payload: mysqlPacket(0, "\x03SET PASSWORD = 'thirdsecret'"), captured: -1, want: make([]byte, 33)},
			},
			secrets: []string{string(authMariaDB), "newsecret", "thirdsecret"},
			verdict: ` ok user="lab"`,
		},
		{
			name: "MySQL SSLRequest, its ClientHello cut to nothing: the TLS after it is kept whole",
			port: 3306,
			steps: []cutStep{
				{client: false, payload: greetingWhole, captured: -1},
				{client: true, payload: sslMySQL, captured: -1, want: sslMySQL},
				{client: true, payload: hello, captured: 0, want: []byte{}},
				{client: true, payload: finished, captured: -1, want: finished},
			},
		},
		{
			name: "MySQL SSLRequest and a ClientHello in one segment, cut",
			port: 3306,
			steps: []cutStep{
				{client: false, payload: greetingWhole, captured: -1},
				{client: true, payload: append(append([]byte(nil), sslMySQL...), hello...), captured: 60, want: append(append([]byte(nil), sslMySQL...), hello...)[:60]},
				{client: true, payload: finished, captured: 20, want: finished[:20]},
			},
			// The bytes after the SSLRequest are TLS records, never a
			// login; the client closes with no answer from the server.
			verdict: ` tls_failed user="" err=0 tls=true`,
		},
		{
			name: "TLS from the first client byte, the ClientHello cut: kept whole",
			port: 443,
			steps: []cutStep{
				{client: true, payload: hello, captured: 100, want: hello[:100]},
				{client: true, payload: finished, captured: -1, want: finished},
			},
		},
		{
			name: "PostgreSQL SSLRequest accepted, the ClientHello cut to nothing: the TLS after it is kept whole",
			port: 5432,
			steps: []cutStep{
				{client: true, payload: pgSSL, captured: -1, want: pgSSL},
				{client: false, payload: []byte("S"), captured: -1},
				{client: true, payload: hello, captured: 0, want: []byte{}},
				{client: true, payload: finished, captured: -1, want: finished},
			},
		},
		{
			name: "PostgreSQL startup cut at the snap length, then a PasswordMessage",
			port: 5432,
			steps: []cutStep{
				{client: true, payload: startupFull, captured: 30, want: startupFull[:30]},
				{client: false, payload: pgMsg('R', []byte{0, 0, 0, 5, 1, 2, 3, 4}), captured: -1},
				{client: true, payload: pgPw, captured: -1, want: pgHeader(pgPw)},
			},
			secrets: []string{"hunter2", "md5a3556571e93b0d20722ba62be61e8c2d"},
		},
		{
			// The startup in two segments, the first cut: the second's
			// bytes follow a hole inside the parameters, so a password
			// whose name was cut cannot be told from the rest.
			name: "PostgreSQL startup cut inside its parameters, continued in a second segment",
			port: 5432,
			steps: []cutStep{
				{client: true, payload: startupFull[:40], captured: 22, want: startupFull[:22]},
				{client: true, payload: startupFull[40:], captured: -1, want: make([]byte, len(startupFull)-40)},
				{client: false, payload: pgMsg('R', []byte{0, 0, 0, 5, 1, 2, 3, 4}), captured: -1},
				{client: true, payload: pgPw, captured: 9, want: pgHeader(pgPw)[:9]},
				{client: true, payload: pgMsg('Q', []byte("SELECT 1\x00")), captured: -1, want: pgHeader(pgMsg('Q', []byte("SELECT 1\x00")))},
			},
			secrets: []string{"hunter2", "md5a355"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFlow(t, tc.port)
			for i, st := range tc.steps {
				if st.skip {
					f.srvSeq += uint32(len(st.payload))
					continue
				}
				captured := st.captured
				if captured < 0 {
					captured = len(st.payload)
				}
				got := f.sendCut(st.client, event.TCPAck|event.TCPPsh, append([]byte(nil), st.payload...), captured)
				if st.want != nil && !bytes.Equal(got, st.want) {
					t.Errorf("segment %d (%d of %d bytes captured) written as\n%x\nwant\n%x", i, captured, len(st.payload), got, st.want)
				}
			}
			f.send(true, event.TCPFin|event.TCPAck, nil)
			for _, fr := range f.scrubbed {
				for _, sec := range tc.secrets {
					if bytes.Contains(fr.data, []byte(sec)) {
						t.Errorf("secret %q is in a written frame: %x", sec, fr.data)
					}
				}
			}
			orig, err := capture.NewReader(rawPcap(f.orig), "original")
			if err != nil {
				t.Fatal(err)
			}
			scrubbed, err := capture.NewReader(rawPcap(f.scrubbed), "scrubbed")
			if err != nil {
				t.Fatal(err)
			}
			a, b := signatureOf(orig), signatureOf(scrubbed)
			t.Logf("analysis: %s", a)
			if a != b {
				t.Errorf("analysis differs after scrubbing\noriginal:\n%s\nscrubbed:\n%s", a, b)
			}
			if !strings.Contains(a, tc.verdict) {
				t.Errorf("the original flow analyses as\n%s\nwant %q in it (the scenario does not test what it says)", a, tc.verdict)
			}
		})
	}
}

// mysqlOf is the attempt's MySQL facts (nil for none).
func mysqlOf(a *analyze.Attempt) *mysql.Info {
	if a == nil || a.App == nil {
		return nil
	}
	m, _ := a.App.Info.(*mysql.Info)
	return m
}
