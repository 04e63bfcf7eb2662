package analyze

import "testing"

// The server side's and the kernel's words are made from the finding alone
// (reason, facts, the attempt's public fields): an attempt read back from
// JSON, with no engine behind it, gets the same evidence and causes.
func TestKernelWordsFromFacts(t *testing.T) {
	queued, wait := 0.15, 3000.0
	loopback := &ListenerFact{Port: 3306, Listeners: []ListenerEntry{{Addr: "127.0.0.1:3306", Process: "mariadbd[812]", PID: 812, Backlog: 80,
		UnixSockets: []string{"/run/mysqld/mysqld.sock"}}}}
	tests := []struct {
		name     string
		reason   Reason
		facts    Facts
		evidence string
		cause    string
	}{
		{"nft drops the SYNs on the server's host", ReasonKernelNetfilterDrop,
			Facts{SYNs: 3, SYNSpanMS: ptr(3000), KernelDrop: &DropFact{Reason: "NETFILTER_DROP", Packet: "SYN", Received: true, Location: "nft_do_chain", Dir: DirC2S}},
			"the kernel of this host dropped the SYN it received: NETFILTER_DROP (in nft_do_chain)", "drops the SYNs it receives for 192.0.2.20:3306"},
		{"the client's output rule, after the kernel's ETIMEDOUT", ReasonKernelNetfilterDrop,
			Facts{SYNs: 7, Errno: "ETIMEDOUT", ElapsedMS: 130000, KernelDrop: &DropFact{Reason: "NETFILTER_DROP", Packet: "SYN", Dir: DirC2S}},
			"the kernel gave up (net.ipv4.tcp_syn_retries)", "output rule on this host (the client) drops its own SYNs"},
		{"the client's input drops the SYN-ACK", ReasonKernelNetfilterDrop,
			Facts{SYNs: 1, KernelDrop: &DropFact{Reason: "NETFILTER_DROP", Packet: "SYN-ACK", Received: true, Dir: DirS2C}},
			"dropped the SYN-ACK it received", "drops the SYN-ACK coming back from 192.0.2.20:3306"},
		{"never accepted", ReasonNoServerBytes,
			Facts{SinceHandshakeMS: ptr(3000), Accept: &AcceptFact{HandshakeMS: &queued}},
			"the server's kernel completed the handshake at +0.150 ms, but no process had accept()ed", "never took it from the accept queue"},
		{"accepted after 3 s", ReasonNoServerBytes,
			Facts{SinceHandshakeMS: ptr(3000), Accept: &AcceptFact{By: "mariadbd[812]", PID: 812, HandshakeMS: &queued, QueuedMS: &wait}},
			"mariadbd[812] did not accept() the connection for 3.0 s", "mariadbd[812] took 3.0 s to accept()"},
		{"accepted at once, then nothing from the server", ReasonNoServerBytes,
			Facts{Accept: &AcceptFact{By: "mariadbd[812]", PID: 812, HandshakeMS: &queued, QueuedMS: &queued}},
			"mariadbd[812] accept()ed the connection 0.150 ms after the server's kernel completed the handshake", ""},
		{"bound to loopback only", ReasonRSTFromServer,
			Facts{AnsweredSYN: 1, ReplyMS: ptr(0.1), Listeners: loopback, KernelDrop: &DropFact{Reason: "NO_SOCKET", Packet: "SYN", Received: true, Dir: DirC2S}},
			"dropped the SYN it received: NO_SOCKET",
			"mariadbd[812] listens on 127.0.0.1:3306 only; this SYN came to 192.0.2.20:3306, where nothing listens, hence the RST (the kernel: NO_SOCKET)"},
		{"accept queue full at the start", ReasonSYNUnanswered,
			Facts{SYNs: 3, Listeners: &ListenerFact{Port: 3306, Listeners: []ListenerEntry{{Addr: "0.0.0.0:3306", Serves: true, Process: "mariadbd[812]", AcceptQueue: 80, Backlog: 80}}}},
			"3 SYNs", "mariadbd[812]'s accept queue on 0.0.0.0:3306 was already full (80 waiting, limit 80)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.facts
			at := &Attempt{Client: "192.0.2.10:40000", Server: "192.0.2.20:3306", Outcome: tc.reason.Outcome(), Reason: tc.reason, Facts: &f}
			Explain(&Connect{Outcome: at.Outcome, Reason: at.Reason, Attempts: []*Attempt{at}})
			if !hasSubstring(at.Evidence, tc.evidence) {
				t.Errorf("evidence %q lacks %q", at.Evidence, tc.evidence)
			}
			if !hasSubstring(at.Causes, tc.cause) {
				t.Errorf("causes %q lack %q", at.Causes, tc.cause)
			}
		})
	}
}

// A greeting that came late because the server process accept()ed late
// (stopped, stalled) is worded as that, not as the generic slow greeting
// (a reverse DNS lookup); a greeting late after a prompt accept keeps the
// generic cause.
func TestAcceptExplainsLateGreeting(t *testing.T) {
	hs, wait, fast := 0.2, 3000.0, 0.3
	tests := []struct {
		name        string
		accept      *AcceptFact
		serverFirst float64
		cause       string // "" : none from the accept
		generic     bool   // the generic slow-greeting cause is given
	}{
		{"stopped 3 s, greeted at once after", &AcceptFact{By: "mariadbd[812]", PID: 812, HandshakeMS: &hs, QueuedMS: &wait}, 3004,
			"mariadbd[812] did not accept() the connection for 3.0 s after the server's kernel completed the handshake, and spoke 4.0 ms after it did", false},
		{"stopped 3 s, then 2 s more to greet", &AcceptFact{By: "mariadbd[812]", PID: 812, HandshakeMS: &hs, QueuedMS: &wait}, 5000, "", true},
		{"accepted at once, greeted after 3 s", &AcceptFact{By: "mariadbd[812]", PID: 812, HandshakeMS: &hs, QueuedMS: &fast}, 3000, "", true},
		{"no server side seen", nil, 3000, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.serverFirst
			f := Facts{ServerFirstMS: &first, Accept: tc.accept}
			at := &Attempt{Client: "192.0.2.10:40000", Server: "192.0.2.20:3306", Outcome: OK, Reason: ReasonServerFirstAnswered, Facts: &f}
			Explain(&Connect{Outcome: OK, Reason: ReasonServerFirstAnswered, Attempts: []*Attempt{at}})
			if tc.cause != "" && !hasSubstring(at.Causes, tc.cause) {
				t.Errorf("causes %q lack %q", at.Causes, tc.cause)
			}
			if tc.cause == "" && hasSubstring(at.Causes, "did not accept()") {
				t.Errorf("causes %q blame the accept", at.Causes)
			}
			if g := hasSubstring(at.Causes, "reverse DNS lookup"); g != tc.generic {
				t.Errorf("generic slow-greeting cause given: %v, want %v (causes %q)", g, tc.generic, at.Causes)
			}
		})
	}
}
