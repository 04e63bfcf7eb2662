package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/connscope/connscope/analyze/proto"
)

func packet(seq uint8, payload []byte) []byte {
	b := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	return append(b, payload...)
}

func greetingPayload(version string, caps uint32, plugin string) []byte {
	p := []byte{10}
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 1234)
	p = append(p, "abcdefgh"...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 45)
	p = binary.LittleEndian.AppendUint16(p, 2)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst\x00"...)
	p = append(p, plugin...)
	return append(p, 0)
}

const caps = ClientProtocol41 | ClientSecureConnection | ClientPluginAuth | ClientSSL

func TestParseGreeting(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		version string
		tls     bool
		plugin  string
		err     error
	}{
		{"mariadb", greetingPayload("5.5.5-10.11.6-MariaDB-0+deb12u1", caps, "mysql_native_password"), "5.5.5-10.11.6-MariaDB-0+deb12u1", true, "mysql_native_password", nil},
		{"mysql 8 no tls", greetingPayload("8.0.36", caps&^ClientSSL, "caching_sha2_password"), "8.0.36", false, "caching_sha2_password", nil},
		{"cut after version", greetingPayload("10.6.1", caps, "x")[:12], "10.6.1", false, "", ErrTruncated},
		{"not mysql", []byte("SSH-2.0-OpenSSH"), "", false, "", ErrNotMySQL},
		{"empty", nil, "", false, "", ErrNotMySQL},
		{"unprintable version", append([]byte{10, 1, 2, 0}, make([]byte, 40)...), "", false, "", ErrNotMySQL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGreeting(tc.payload)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if g.ServerVersion != tc.version || g.AuthPlugin != tc.plugin {
				t.Errorf("got %+v", g)
			}
			if tc.err == nil && (g.TLSOffered() != tc.tls || g.ConnectionID != 1234 || !g.CapsKnown) {
				t.Errorf("got %+v", g)
			}
		})
	}
}

func TestParseErr(t *testing.T) {
	tests := []struct {
		name     string
		payload  []byte
		code     uint16
		sqlstate string
		msg      string
	}{
		{"4.1 style", append([]byte{0xff, 0x15, 0x04}, "#28000Access denied for user 'app'@'h'"...), 1045, "28000", "Access denied for user 'app'@'h'"},
		{"pre-4.1 at greeting (MariaDB 1130)", append([]byte{0xff, 0x6a, 0x04}, "Host '10.0.0.1' is not allowed to connect to this MariaDB server"...), 1130, "", "Host '10.0.0.1' is not allowed to connect to this MariaDB server"},
		{"control characters are neutralised", append([]byte{0xff, 0x10, 0x04}, "Too\x1b[31m many"...), 1040, "", "Too\uFFFD[31m many"},
		{"hash without a valid sqlstate", append([]byte{0xff, 0x10, 0x04}, "#ab"...), 1040, "", "#ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseErr(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if e.Code != tc.code || e.SQLState != tc.sqlstate || e.Message != tc.msg {
				t.Errorf("got %+v", e)
			}
		})
	}
	if _, err := ParseErr([]byte{0xff, 1}); err == nil {
		t.Error("short ERR accepted")
	}
}

func TestLooksLikeGreeting(t *testing.T) {
	g := packet(0, greetingPayload("10.11.6-MariaDB", caps, "mysql_native_password"))
	tests := []struct {
		name string
		b    []byte
		yes  bool
		err  error
	}{
		{"greeting", g, true, nil},
		{"partial greeting", g[:20], false, ErrShort},
		{"err at greeting", packet(0, append([]byte{0xff, 0x10, 0x04}, "Too many connections"...)), true, nil},
		{"ssh banner", []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), false, nil},
		{"http", []byte("HTTP/1.1 400 Bad Request\r\n"), false, nil},
		{"seq 1", packet(1, greetingPayload("10.11.6-MariaDB", caps, "x")), false, nil},
		{"three bytes", []byte{1, 0, 0}, false, ErrShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yes, err := LooksLikeGreeting(tc.b)
			if yes != tc.yes || err != tc.err {
				t.Errorf("got %v, %v", yes, err)
			}
		})
	}
	if !LooksLikeGreetingPrefix(g[:20]) || LooksLikeGreetingPrefix([]byte("SSH-2.0-OpenSSH")) {
		t.Error("LooksLikeGreetingPrefix")
	}
}

func handshakeResponse(user string, c uint32, db string) []byte {
	p := binary.LittleEndian.AppendUint32(nil, c)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 33)
	p = append(p, make([]byte, 23)...)
	p = append(p, user...)
	p = append(p, 0)
	p = append(p, 20)
	p = append(p, "PASSWORDHASHPASSWORD"...)
	if c&ClientConnectWithDB != 0 {
		p = append(p, db...)
		p = append(p, 0)
	}
	p = append(p, "mysql_native_password\x00"...)
	return p
}

func TestParseClientHello(t *testing.T) {
	h, err := ParseClientHello(handshakeResponse("app", caps|ClientConnectWithDB, "shop"))
	if err != nil || h.SSLRequest || h.User != "app" || h.AuthPlugin != "mysql_native_password" {
		t.Fatalf("%+v %v", h, err)
	}
	if strings.Contains(h.User+h.AuthPlugin, "PASSWORD") {
		t.Fatal("auth response leaked")
	}
	ssl := handshakeResponse("", caps, "")[:32]
	h, err = ParseClientHello(ssl)
	if err != nil || !h.SSLRequest {
		t.Fatalf("SSLRequest: %+v %v", h, err)
	}
	old := []byte{0x85, 0xa6 &^ 0x02, 0, 0, 0, 'r', 'o', 'o', 't', 0, 'x'}
	old[1] = 0x00 // no CLIENT_PROTOCOL_41
	h, err = ParseClientHello(old)
	if err != nil || h.User != "root" {
		t.Fatalf("4.0 response: %+v %v", h, err)
	}
	if _, err := ParseClientHello([]byte{1, 2}); err == nil {
		t.Error("short reply accepted")
	}
}

func TestFrame(t *testing.T) {
	p := packet(3, []byte("hello"))
	payload, seq, n, err := Frame(append(p, 9, 9))
	if err != nil || string(payload) != "hello" || seq != 3 || n != 9 {
		t.Fatalf("%q %d %d %v", payload, seq, n, err)
	}
	if _, _, _, err := Frame(p[:6]); err != ErrShort {
		t.Errorf("short: %v", err)
	}
	if _, _, _, err := Frame([]byte("SSH-2.0")); err != ErrNotMySQL {
		t.Errorf("ssh: %v", err)
	}
}

func TestAuthSwitchPlugin(t *testing.T) {
	name, err := AuthSwitchPlugin(append([]byte{0xfe}, "caching_sha2_password\x00scramble"...))
	if err != nil || name != "caching_sha2_password" {
		t.Fatalf("%q %v", name, err)
	}
	if name, _ := AuthSwitchPlugin([]byte{0xfe}); name != "mysql_old_password" {
		t.Errorf("old switch: %q", name)
	}
}

// FuzzMySQLServer feeds arbitrary bytes to every server-side decoder.
func FuzzMySQLServer(f *testing.F) {
	f.Add(packet(0, greetingPayload("5.5.5-10.11.6-MariaDB", caps, "mysql_native_password")))
	f.Add(packet(0, append([]byte{0xff, 0x6a, 0x04}, "Host is not allowed"...)))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"))
	f.Add(packet(2, append([]byte{0xfe}, "caching_sha2_password\x00abc"...)))
	f.Fuzz(func(t *testing.T, b []byte) {
		LooksLikeGreeting(b)
		if LooksLikeGreetingPrefix(b) && !MaybeGreetingPrefix(b) {
			t.Fatalf("%q looks like a greeting but is ruled out as one", b)
		}
		if payload, seq, _, err := Frame(b); err == nil {
			ServerKind(payload, seq)
		}
		ParseGreeting(b)
		ParseErr(b)
		// The same bytes as the captured start of a longer packet.
		if e, err := ParseErrCut(b); err == nil && (!e.Truncated || len(e.Message) > 3*len(b)) {
			t.Fatalf("cut ERR: %+v", e)
		}
		if len(b) > 0 {
			CommandName(b[0])
		}
		AuthSwitchPlugin(b)
	})
}

// FuzzMySQLClient feeds arbitrary bytes to the client-side decoder; the
// auth response must never come out.
func FuzzMySQLClient(f *testing.F) {
	f.Add(handshakeResponse("app", caps|ClientConnectWithDB, "db"))
	f.Add(handshakeResponse("", caps, "")[:32])
	f.Add([]byte{0x85, 0, 0, 0, 0, 'r', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseClientHello(b)
		// Unprintable bytes become U+FFFD (3 bytes): at most 3× the input.
		if err == nil && len(h.User) > 3*len(b) {
			t.Fatalf("user name of %d bytes from %d bytes of input", len(h.User), len(b))
		}
		// The same bytes as the captured start of a longer packet (the
		// snap length cut it): an SSLRequest only when the length says so
		// (32 bytes, or 5 before protocol 4.1), never more user name than
		// bytes.
		for _, more := range []int{1, 29, 300} {
			h, err := ParseClientHelloCut(b, len(b)+more)
			if h.SSLRequest && len(b)+more != 32 && len(b)+more != 5 {
				t.Fatalf("cut packet (%d of %d bytes) taken for an SSLRequest", len(b), len(b)+more)
			}
			if err == nil && (len(h.User) > 3*len(b) || !h.Truncated) {
				t.Fatalf("cut packet: user name of %d bytes from %d bytes, truncated %v", len(h.User), len(b), h.Truncated)
			}
		}
	})
}

// TestCutPackets decodes packets the capture cut (the snap length): what
// was captured is decoded, nothing is concluded from the missing bytes.
func TestCutPackets(t *testing.T) {
	errPayload := append([]byte{0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0'}, "Access denied for user 'lab'"...)
	hello := handshakeResponse("application_user", caps|ClientConnectWithDB, "shop")
	helloOld := []byte{0x85, 0x00, 0, 0, 0, 'r', 'o', 'o', 't', 0, 'x'}
	tests := []struct {
		name string
		run  func() (string, error)
		want string
		err  error // errors.Is
	}{
		{"ERR cut in the message", func() (string, error) { e, err := ParseErrCut(errPayload[:15]); return e.String(), err },
			"ERROR 1045 (28000): Access… (message cut in the capture)", nil},
		{"ERR cut in the SQLSTATE", func() (string, error) { e, err := ParseErrCut(errPayload[:6]); return e.String(), err },
			"ERROR 1045: … (message cut in the capture)", nil},
		{"ERR cut in the code", func() (string, error) { _, err := ParseErrCut(errPayload[:2]); return "", err },
			"", ErrTruncated},
		{"ERR whole", func() (string, error) { e, err := ParseErr(errPayload); return e.String(), err },
			"ERROR 1045 (28000): Access denied for user 'lab'", nil},
		{"HandshakeResponse cut at 32 bytes is not an SSLRequest", func() (string, error) {
			h, err := ParseClientHelloCut(hello[:32], len(hello))
			return fmt.Sprintf("ssl=%v user=%q cut=%v", h.SSLRequest, h.User, h.Truncated), err
		}, `ssl=false user="" cut=true`, ErrTruncated},
		{"HandshakeResponse cut in the user name", func() (string, error) {
			h, err := ParseClientHelloCut(hello[:32+11], len(hello))
			return fmt.Sprintf("ssl=%v user=%q cut=%v", h.SSLRequest, h.User, h.Truncated), err
		}, `ssl=false user="application" cut=true`, nil},
		{"HandshakeResponse cut in the auth response keeps the user, not the plugin", func() (string, error) {
			h, err := ParseClientHelloCut(hello[:32+17+5], len(hello))
			return fmt.Sprintf("user=%q plugin=%q cut=%v", h.User, h.AuthPlugin, h.Truncated), err
		}, `user="application_user" plugin="" cut=true`, nil},
		{"HandshakeResponse cut before the capabilities", func() (string, error) { _, err := ParseClientHelloCut(hello[:3], len(hello)); return "", err },
			"", ErrTruncated},
		{"SSLRequest whole (32 bytes of 32)", func() (string, error) {
			h, err := ParseClientHelloCut(hello[:32], 32)
			return fmt.Sprintf("ssl=%v", h.SSLRequest), err
		}, "ssl=true", nil},
		{"4.0 response cut in the user name", func() (string, error) {
			h, err := ParseClientHelloCut(helloOld[:7], len(helloOld))
			return fmt.Sprintf("user=%q cut=%v", h.User, h.Truncated), err
		}, `user="ro" cut=true`, nil},
		{"4.0 response cut before the user name", func() (string, error) { _, err := ParseClientHelloCut(helloOld[:4], len(helloOld)); return "", err },
			"", ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.run()
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
			} else if err != nil {
				t.Fatalf("err %v", err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSniffHandsGreetingOver: the sniff decodes a whole greeting once and
// hands it to the session (newSession takes the session it made), with the
// fields ParseGreeting gives; whatever else it answers hands nothing over.
func TestSniffHandsGreetingOver(t *testing.T) {
	payload := greetingPayload("10.11.6-MariaDB", caps, "mysql_native_password")
	g := packet(0, payload)
	v9 := packet(0, append(append([]byte{9}, "3.23.58\x00"...), 1, 2, 3, 4, 'x', 0))
	tests := []struct {
		name          string
		b             []byte
		noMore, cut   bool
		how           proto.Sniff
		handsGreeting bool
	}{
		{"greeting", g, false, false, proto.Yes, true},
		{"greeting, closed after", g, true, false, proto.Yes, true},
		{"greeting without TLS", packet(0, greetingPayload("8.0.36", caps&^ClientSSL, "caching_sha2_password")), false, false, proto.Yes, true},
		{"v9 greeting", v9, false, false, proto.Yes, true},
		{"partial greeting", g[:20], false, false, proto.Wait, false},
		{"partial greeting, no more", g[:20], true, true, proto.Yes, false},
		{"err at greeting", packet(0, append([]byte{0xff, 0x10, 0x04}, "Too many connections"...)), false, false, proto.Yes, false},
		{"ssh banner", []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), false, false, proto.No, false},
		{"cut before the version", g[:4], true, true, proto.Cut, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			how, sniffed := sniffServer(tc.b, tc.noMore, tc.cut)
			if how != tc.how {
				t.Fatalf("sniff = %v, want %v", how, tc.how)
			}
			s, _ := sniffed.(*session)
			if (s != nil) != tc.handsGreeting || (sniffed != nil) != tc.handsGreeting {
				t.Fatalf("sniff handed over %#v, want a greeting: %v", sniffed, tc.handsGreeting)
			}
			if s == nil {
				return
			}
			want, err := ParseGreeting(tc.b[HeaderLen:])
			if err != nil {
				t.Fatal(err)
			}
			if !s.sniffed {
				t.Fatal("the session handed over holds no greeting (sniffed false)")
			}
			got := s.takeSniffed()
			if got.Protocol != want.Protocol || got.ServerVersion != want.ServerVersion || got.ConnectionID != want.ConnectionID ||
				got.AuthPlugin != want.AuthPlugin || got.CapsKnown != want.CapsKnown || got.TLSOffered() != want.TLSOffered() {
				t.Errorf("handed over %+v, want %+v", got, want)
			}
			if got := newSession(nil, how, sniffed); got != proto.Session(s) {
				t.Errorf("newSession made a session of its own, not the sniff's")
			}
		})
	}
}

// TestGreetingVersionShared: every greeting gives its own server version,
// whatever the greeting before said (the same, a prefix, an extension,
// another of the same length), and a version equal to the last one is that
// string again, not a copy; greetings decoded at once on several
// goroutines (engines side by side) each get their own.
func TestGreetingVersionShared(t *testing.T) {
	versions := []string{"8.0.36", "8.0.36", "8.0.3", "8.0.36-log", "8.0.37", "11.4.2-MariaDB", "11.4.2-MariaDB", "8.0.36"}
	var prev string
	for i, v := range versions {
		g, err := ParseGreeting(greetingPayload(v, 0xffff, "caching_sha2_password"))
		if err != nil || g.ServerVersion != v {
			t.Fatalf("greeting %d: version %q (%v), want %q", i, g.ServerVersion, err, v)
		}
		if i > 0 && v == versions[i-1] && unsafe.StringData(g.ServerVersion) != unsafe.StringData(prev) {
			t.Errorf("greeting %d: version %q decoded into a new string, not the last greeting's", i, v)
		}
		prev = g.ServerVersion
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := fmt.Sprintf("10.%d.0-MariaDB", w)
			p := greetingPayload(v, 0xffff, "mysql_native_password")
			for i := range 2000 {
				if g, err := ParseGreeting(p); err != nil || g.ServerVersion != v {
					t.Errorf("goroutine %d, greeting %d: version %q (%v), want %q", w, i, g.ServerVersion, err, v)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestCleanTextCache: the cached clean texts are proto.CleanText's, for
// texts that need cleaning too and for bytes that share a slot; a text
// cleaned again is the string made the first time (no new one).
func TestCleanTextCache(t *testing.T) {
	var c textCache
	inputs := []string{"app", "reporting", "app", "a\x01b", "a\uFFFDb", "a\x01b", "\xff\xfe", "\uFFFD", "bad\xffutf", "", "app", "apq", "bpp", "Too many connections", "Too many connections"}
	for round := range 2 {
		for _, in := range inputs {
			if got, want := c.cleanText([]byte(in)), proto.CleanText([]byte(in)); got != want {
				t.Fatalf("round %d: cleanText(%q) = %q, want %q", round, in, got, want)
			}
		}
	}
	first := c.cleanText([]byte("reporting"))
	if again := c.cleanText([]byte("reporting")); unsafe.StringData(again) != unsafe.StringData(first) {
		t.Error("the same user name cleaned twice made two strings")
	}
}

// TestNulBytes: nulBytes finds the first NUL within max bytes (a string
// of max bytes and its NUL), returns the bytes before it and moves past
// it, and finds none (moving nowhere) when it comes later or not at all.
func TestNulBytes(t *testing.T) {
	for _, c := range []struct {
		b        string
		off, max int
		want     string
		ok       bool
	}{
		{"abc\x00def", 0, 256, "abc", true},
		{"abc\x00def\x00", 4, 256, "def", true},
		{"\x00", 0, 0, "", true},
		{"abcd\x00", 0, 4, "abcd", true}, // max bytes, then the NUL
		{"abcde\x00", 0, 4, "", false},   // one byte too many
		{"abcdef", 0, 256, "", false},
		{"", 0, 256, "", false},
		{"x\x00" + strings.Repeat("y", 300) + "\x00", 2, 256, "", false},
		{"x\x00" + strings.Repeat("y", 256) + "\x00", 2, 256, strings.Repeat("y", 256), true},
	} {
		r := reader{b: []byte(c.b), off: c.off}
		got, ok := r.nulBytes(c.max)
		wantOff := c.off
		if c.ok {
			wantOff += len(c.want) + 1
		}
		if string(got) != c.want || ok != c.ok || r.off != wantOff {
			t.Errorf("nulBytes(%q from %d, max %d) = %q, %v, off %d; want %q, %v, off %d", c.b, c.off, c.max, got, ok, r.off, c.want, c.ok, wantOff)
		}
	}
}
