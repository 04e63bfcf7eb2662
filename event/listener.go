package event

import "net/netip"

// Listener is a listening TCP socket on a target port, as the listener
// inventory found it when a live trace started (sock_diag): who could accept
// the connects the trace follows, on which address, and how full its accept
// queue was.
type Listener struct {
	Family uint16 // FamilyInet, FamilyInet6
	// Addr is the local address: 0.0.0.0 or :: listens on every address of
	// its family (:: also on IPv4 unless the socket is IPv6-only).
	Addr netip.AddrPort
	// AcceptQueue is how many connections waited for accept() (what
	// `ss -ltn` shows as Recv-Q), Backlog the queue's limit (Send-Q: the
	// listen() backlog, capped by net.core.somaxconn).
	AcceptQueue, Backlog uint32
	// PID and Comm are the process holding the socket (the first found
	// when several share it); 0 and "" when no process could be found.
	PID  uint32
	Comm string
	// UID owns the socket.
	UID uint32
	// UnixSockets are the unix sockets the same process listens on.
	UnixSockets []UnixListener
	// NoTCP marks a server process (mysqld, mariadbd, postgres) of the
	// traced namespace that listens on no TCP socket at all, only on unix
	// sockets (MySQL's skip_networking): Family and Addr are zero.
	NoTCP bool
}

// UnixListener is a listening unix stream socket of a process that listens
// on a target port.
type UnixListener struct {
	// Path is the socket's name: a file path, or "@name" for an abstract
	// socket.
	Path string
	// Owner and Mode describe the socket file as the process sees it
	// ("" when it has no file or could not be read): "mysql:mysql", 0777.
	Owner string
	Mode  uint32
}
