package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// runStaleSocket leaves PATH as a unix socket file nobody listens on: what a
// server that crashed (or was killed) without removing its socket leaves.
func runStaleSocket(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: labsrv stale-socket PATH")
	}
	path := args[0]
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	l.SetUnlinkOnClose(false)
	if err := l.Close(); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o777); err != nil {
		return err
	}
	return nil
}

// runTimeWait connects to -target again and again, closing each connection
// first (so the client side ends in TIME_WAIT), until connect() fails for
// want of a local port. Run it in a namespace whose ip_local_port_range has
// been shrunk; it fails if the ports do not run out within -max connections.
func runTimeWait(args []string) error {
	fs := flag.NewFlagSet("timewait", flag.ExitOnError)
	target := fs.String("target", "", "HOST:PORT of a listening server")
	maxConns := fs.Int("max", 64, "give up after this many successful connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("-target is required")
	}
	for i := 0; i < *maxConns; i++ {
		c, err := net.DialTimeout("tcp", *target, 3*time.Second)
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			// Wait for every closed connection to pass FIN_WAIT into TIME_WAIT
			// (the server closes its side once it reads our FIN).
			time.Sleep(300 * time.Millisecond)
			fmt.Printf("%d connections to %s closed by the client first; the next connect(): %v\n", i, *target, err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("connection %d to %s: %w", i+1, *target, err)
		}
		// Read the server's first bytes (a MySQL greeting), then close
		// first: the active closer is the one left in TIME_WAIT.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(make([]byte, 512))
		if err := c.Close(); err != nil {
			return err
		}
	}
	return fmt.Errorf("still connecting to %s after %d connections: is ip_local_port_range small?", *target, *maxConns)
}
