package dns

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

func name(n string) []byte {
	var b []byte
	for _, l := range strings.Split(n, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func header(id, flags, qd, an uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, qd)
	b = binary.BigEndian.AppendUint16(b, an)
	return append(b, 0, 0, 0, 0)
}

func rr(typ uint16, rdata []byte) []byte {
	b := []byte{0xc0, 12}
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 300)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

func question(n string, typ uint16) []byte {
	b := name(n)
	b = binary.BigEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint16(b, 1)
}

func TestParse(t *testing.T) {
	resp := header(0x1234, 0x8180, 1, 3)
	resp = append(resp, question("DB.Lab.Test", TypeA)...)
	// CNAME db.lab.test → real.lab.test (compressed: "real" + pointer to "lab.test" at 15)
	resp = append(resp, rr(TypeCNAME, []byte{4, 'r', 'e', 'a', 'l', 0xc0, 15})...)
	resp = append(resp, rr(TypeA, []byte{192, 0, 2, 20})...)
	resp = append(resp, rr(TypeAAAA, netip.MustParseAddr("2001:db8::20").AsSlice())...)
	m, err := Parse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != 0x1234 || !m.Response || m.Rcode != 0 || len(m.Questions) != 1 || m.Questions[0].Name != "db.lab.test" || m.Questions[0].Type != TypeA {
		t.Fatalf("%+v", m)
	}
	if len(m.Answers) != 3 || m.Answers[0].Target != "real.lab.test" || m.Answers[1].Addr != netip.MustParseAddr("192.0.2.20") || m.Answers[2].Addr != netip.MustParseAddr("2001:db8::20") {
		t.Fatalf("answers %+v", m.Answers)
	}
}

func TestParseHostile(t *testing.T) {
	loop := header(1, 0x8180, 1, 0)
	loop = append(loop, 0xc0, 12) // name pointing at itself
	loop = append(loop, 0, 1, 0, 1)
	fwd := header(1, 0x8180, 1, 0)
	fwd = append(fwd, 0xc0, 20, 0, 1, 0, 1, 1, 'a', 0) // forward pointer
	long := header(1, 0, 1, 0)
	for i := 0; i < 5; i++ {
		long = append(long, 63)
		long = append(long, strings.Repeat("x", 63)...)
	}
	long = append(long, 0, 0, 1, 0, 1)
	manyQ := header(1, 0, 0xffff, 0)
	for i := 0; i < 10; i++ {
		manyQ = append(manyQ, question("a", TypeA)...)
	}
	escape := header(1, 0, 1, 0)
	escape = append(escape, 5, 'a', '.', 0x1b, ' ', 'b', 0, 0, 1, 0, 1)
	badA := header(1, 0x8180, 1, 1)
	badA = append(badA, question("a", TypeA)...)
	badA = append(badA, rr(TypeA, []byte{1, 2, 3})...)
	tests := []struct {
		name string
		b    []byte
		want string // expected first question name, "" for error without questions
	}{
		{"pointer loop", loop, ""},
		{"forward pointer", fwd, ""},
		{"name too long", long, ""},
		{"header claims 65535 questions", manyQ, "a"},
		{"dots and escapes in labels", escape, `a\.\027\032b`},
		{"A record of 3 bytes", badA, "a"},
		{"short", []byte{1, 2, 3}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.b)
			got := ""
			if len(m.Questions) > 0 {
				got = m.Questions[0].Name
			}
			if got != tc.want {
				t.Errorf("question %q, want %q (err %v)", got, tc.want, err)
			}
			if tc.name != "dots and escapes in labels" && err == nil {
				t.Errorf("no error")
			}
		})
	}
	if _, err := Parse(loop); !errors.Is(err, ErrName) {
		t.Errorf("loop: %v", err)
	}
}

func TestStrings(t *testing.T) {
	if TypeString(28) != "AAAA" || TypeString(999) != "TYPE999" || RcodeString(3) != "NXDOMAIN" || RcodeString(14) != "RCODE14" {
		t.Error("names")
	}
}

func TestReverseAddr(t *testing.T) {
	a, ok := ReverseAddr("10.2.0.192.in-addr.arpa.")
	if !ok || a != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("v4: %v %v", a, ok)
	}
	v6 := "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
	a, ok = ReverseAddr(v6)
	if !ok || a != netip.MustParseAddr("2001:db8::10") {
		t.Errorf("v6: %v %v", a, ok)
	}
	if _, ok := ReverseAddr("example.com"); ok {
		t.Error("not a reverse name")
	}
}

// FuzzDNSParse: no input may panic, loop, or yield a name longer than the
// presentation form of 255 wire bytes.
func FuzzDNSParse(f *testing.F) {
	resp := header(0x1234, 0x8180, 1, 1)
	resp = append(resp, question("db.lab.test", TypeA)...)
	resp = append(resp, rr(TypeA, []byte{192, 0, 2, 20})...)
	f.Add(resp)
	loop := header(1, 0x8180, 1, 0)
	loop = append(loop, 0xc0, 12, 0, 1, 0, 1)
	f.Add(loop)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := Parse(b)
		for _, q := range m.Questions {
			if len(q.Name) > 4*MaxNameLen {
				t.Fatalf("name of %d bytes", len(q.Name))
			}
		}
		if len(m.Answers) > MaxAnswers {
			t.Fatalf("%d answers", len(m.Answers))
		}
		for _, q := range m.Questions {
			ReverseAddr(q.Name)
		}
	})
}

// TestParseInto: decoding into a reused Message gives what Parse gives —
// nothing of an earlier, bigger message stays behind, an error keeps the
// header and questions as Parse does — and once the Message has room, a
// message costs only its names (no Questions or Answers slice).
func TestParseInto(t *testing.T) {
	big := header(7, 0x8180, 1, 3)
	big = append(big, question("db.lab.test", TypeA)...)
	big = append(big, rr(TypeA, []byte{192, 0, 2, 20})...)
	big = append(big, rr(TypeA, []byte{192, 0, 2, 21})...)
	big = append(big, rr(TypeA, []byte{192, 0, 2, 22})...)
	query := header(8, 0x0100, 1, 0)
	query = append(query, question("x.test", TypeAAAA)...)
	badA := header(9, 0x8183, 1, 1)
	badA = append(badA, question("a", TypeA)...)
	badA = append(badA, rr(TypeA, []byte{1, 2, 3})...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"response with 3 answers", big},
		{"query after it", query},
		{"damaged answer", badA},
		{"short", []byte{1, 2, 3}},
		{"response again", big},
	}
	var m Message
	for _, tc := range tests {
		want, wantErr := Parse(tc.b)
		err := ParseInto(tc.b, &m)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Errorf("%s: error %v, Parse gives %v", tc.name, err, wantErr)
		}
		got := m
		if len(got.Questions) == 0 {
			got.Questions = nil // Parse leaves the slices nil when empty
		}
		if len(got.Answers) == 0 {
			got.Answers = nil
		}
		got.names = want.names // what it keeps of earlier messages (TestParseIntoNames)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ParseInto gives %+v, Parse %+v", tc.name, got, want)
		}
	}
	// big's names: the question's, and each answer's (a pointer to it),
	// all the name the Message kept from the message before.
	if n := testing.AllocsPerRun(100, func() { _ = ParseInto(big, &m) }); n != 0 {
		t.Errorf("ParseInto into a Message with room: %v allocations per message, want none (its names decoded before)", n)
	}
}

// TestParseIntoNames: ParseInto gives every name as decoded, whatever
// names the Message keeps from earlier messages (some equal, some a
// prefix or an extension of it, more of them than it keeps), and a name
// decoded again is the string it gave before, not a copy.
func TestParseIntoNames(t *testing.T) {
	names := []string{"a.test", "a.tes", "a.test.x", "b.test", "ab.test", "a.test", "c.test", "x", "a.tes", "b.test", "b.test"}
	var m Message
	prev := map[string]*byte{}
	for round := range 3 {
		for i, n := range names {
			b := header(uint16(i), 0x8180, 1, 2)
			b = append(b, question(n, TypeA)...)
			b = append(b, rr(TypeA, []byte{192, 0, 2, byte(i)})...)
			b = append(b, rr(TypeCNAME, []byte{1, 'z', 0xc0, 12})...)
			if err := ParseInto(b, &m); err != nil {
				t.Fatalf("round %d, %s: %v", round, n, err)
			}
			if q, a, c := m.Questions[0].Name, m.Answers[0].Name, m.Answers[1].Target; q != n || a != n || c != "z."+n {
				t.Fatalf("round %d, %s: question %q, answer %q, CNAME target %q", round, n, q, a, c)
			}
			if unsafe.StringData(m.Answers[0].Name) != unsafe.StringData(m.Questions[0].Name) {
				t.Errorf("round %d, %s: the answer's name is a copy of the question's", round, n)
			}
			if i > 0 && names[i-1] == n && prev[n] != unsafe.StringData(m.Questions[0].Name) {
				t.Errorf("round %d, %s: the name of the message before decoded into a new string", round, n)
			}
			prev[n] = unsafe.StringData(m.Questions[0].Name)
		}
	}
}
