package analyze

import (
	"testing"

	"github.com/connscope/connscope/analyze/dns"
	"github.com/connscope/connscope/event"
)

// TestRecordedProcessDecidesGrouping: in a pcapng written by `trace -w`
// every packet names its process. A lookup made by one process does not
// name another process's connect to the same address — the engine must know
// the SYN's process before it groups the attempt, as it does live.
func TestRecordedProcessDecidesGrouping(t *testing.T) {
	addr := ip("192.0.2.20")
	php := &event.Process{PID: 100, TID: 100, Comm: "php", FD: 3}
	mariadb := &event.Process{PID: 200, TID: 200, Comm: "mariadb", FD: 3}
	tests := []struct {
		name      string
		connector *event.Process
		wantName  string
	}{
		{"another process connects to the looked-up address", mariadb, ""},
		{"the process that looked it up connects", php, "db.lab.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Options{})
			q := dnsMsg(1, false, 0, "db.lab.test", dns.TypeA)
			a := dnsMsg(1, true, 0, "db.lab.test", dns.TypeA, addr)
			client, server := ap("192.0.2.10:5353"), ap(dnsS)
			s.feed(&event.Packet{Time: s.at(0), Proto: event.ProtoUDP, Src: client.Addr(), SrcPort: client.Port(),
				Dst: server.Addr(), DstPort: server.Port(), Payload: q, PayloadLen: len(q), Process: php})
			s.feed(&event.Packet{Time: s.at(0.4), Proto: event.ProtoUDP, Src: server.Addr(), SrcPort: server.Port(),
				Dst: client.Addr(), DstPort: client.Port(), Payload: a, PayloadLen: len(a), Process: php})

			k := s.conn("192.0.2.10:40000", "192.0.2.20:3306")
			syn := k.pkt(1, true, event.TCPSyn, nil)
			syn.Seq, syn.Ack, syn.Process = k.cisn, 0, tt.connector
			s.feed(syn)
			rst := k.pkt(1.1, false, event.TCPRst|event.TCPAck, nil)
			rst.Seq, rst.Ack, rst.Process = 0, k.cisn+1, tt.connector
			s.feed(rst)
			s.close()

			var got *Connect
			for _, c := range s.got {
				if len(c.Attempts) > 0 {
					got = c
				}
			}
			if got == nil {
				t.Fatalf("no connect with an attempt:\n%s", dumpConnects(s.got))
			}
			if got.Name != tt.wantName || got.PID != tt.connector.PID || got.Attempts[0].Comm != tt.connector.Comm {
				t.Errorf("connect name %q pid %d comm %q, want name %q pid %d comm %q\n%s",
					got.Name, got.PID, got.Attempts[0].Comm, tt.wantName, tt.connector.PID, tt.connector.Comm, dumpConnects(s.got))
			}
		})
	}
}
