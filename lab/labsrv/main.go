// Command labsrv is the failure lab's small misbehaving servers: the parts
// of a "Can't connect to MySQL server" story that no Debian package plays.
//
//	labsrv dns ...           a DNS responder that answers some names late and others never
//	labsrv fake ...          TCP servers that greet late, never greet, or greet with an SSH banner
//	labsrv stale-socket PATH leave a unix socket file that nobody listens on
//	labsrv timewait ...      use up the client's ephemeral ports with TIME_WAIT sockets
//
// lab/lab.sh builds it (CGO_ENABLED=0) and starts it inside the lab's network
// namespaces; it is not part of connscope. Every connection and query is
// logged with a timestamp on stderr (lab.sh sends that to $LAB_DIR/log/).
package main

import (
	"fmt"
	"log"
	"os"
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "dns":
		err = runDNS(args)
	case "fake":
		err = runFake(args)
	case "stale-socket":
		err = runStaleSocket(args)
	case "timewait":
		err = runTimeWait(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "labsrv %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: labsrv dns|fake|stale-socket|timewait [flags]
  labsrv dns -h, labsrv fake -h, labsrv timewait -h for each one's flags
`)
	os.Exit(2)
}
