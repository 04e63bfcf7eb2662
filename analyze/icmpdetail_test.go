package analyze

import (
	"fmt"
	"testing"

	"github.com/connscope/connscope/analyze/proto"
)

// TestICMPDetailsShared: the icmp_error steps of one error (sender, type
// and code) about several attempts share their Detail; another code gets
// its own, and an error about another SYN (whose Detail names the
// sequence numbers) neither changes the shared one nor takes it.
func TestICMPDetailsShared(t *testing.T) {
	s := newSim(t, Options{})
	for i := range 5 {
		k := s.conn(fmt.Sprintf("10.0.0.1:%d", 40000+i), fmt.Sprintf("192.0.2.%d:3306", 10+i))
		ms := float64(i) * 1000
		k.SYN(ms)
		code := uint8(1)
		switch i {
		case 3:
			code = 3
		case 4:
			k.cisn = 999 // quotes a SYN that is not the attempt's
		}
		k.icmp(ms+0.2, "192.0.2.1", false, 3, code)
	}
	s.close()
	details := make([]*proto.Detail, 5) // by attempt
	n := 0
	for _, c := range s.got {
		for _, at := range c.Attempts {
			for _, ev := range at.Events {
				if ev.Kind == EvICMPError {
					var i int
					fmt.Sscanf(at.Server, "192.0.2.1%d:", &i)
					details[i] = ev.Detail
					n++
				}
			}
		}
	}
	if n != 5 || details[4] == nil {
		t.Fatalf("%d icmp_error steps, want one for each of 5 attempts", n)
	}
	shared := details[0]
	if details[1] != shared || details[2] != shared {
		t.Error("the same error about three attempts: steps with Details of their own")
	}
	if ic := shared.ICMP; ic.From != "192.0.2.1" || ic.Type != 3 || ic.Code != 1 || ic.QuotedSeq != 0 || ic.ISN != 0 {
		t.Errorf("shared Detail %+v", *ic)
	}
	if d := details[3]; d == shared || d.ICMP.Code != 3 {
		t.Errorf("code 3 step: Detail %+v, shared %v", *d.ICMP, d == shared)
	}
	if d := details[4]; d == shared || d.ICMP.QuotedSeq != 999 || d.ICMP.ISN != 1000 || d.ICMP.Code != 1 {
		t.Errorf("other-SYN step: Detail %+v, shared %v", *d.ICMP, d == shared)
	}
}
