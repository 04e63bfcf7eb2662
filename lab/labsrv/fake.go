package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fakeServer holds the settings shared by every fake listener.
type fakeServer struct {
	upstreamNet, upstreamAddr string // the real server a late greeting comes from
	hold                      time.Duration
	bannerText                string
	bannerGrace               time.Duration
}

func runFake(args []string) error {
	fs := flag.NewFlagSet("fake", flag.ExitOnError)
	upstream := fs.String("upstream", "", "the real MySQL server behind -greet-late: unix:PATH or tcp:HOST:PORT")
	var greetLate, noGreeting, banner multiFlag
	fs.Var(&greetLate, "greet-late", "ADDR=DELAY: accept, wait DELAY, then relay -upstream, whose greeting the client sees late (repeatable)")
	fs.Var(&noGreeting, "no-greeting", "ADDR: accept and never send a byte (repeatable)")
	fs.Var(&banner, "banner", "ADDR: greet with -banner-text like an SSH server (repeatable)")
	hold := fs.Duration("hold", 120*time.Second, "longest time a silent connection is kept open")
	bannerText := fs.String("banner-text", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "what -banner listeners send first")
	bannerGrace := fs.Duration("banner-grace", 10*time.Second, "like sshd's LoginGraceTime: close a -banner connection after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv := &fakeServer{hold: *hold, bannerText: *bannerText, bannerGrace: *bannerGrace}
	if len(greetLate) > 0 {
		kind, addr, ok := strings.Cut(*upstream, ":")
		if !ok || (kind != "unix" && kind != "tcp") {
			return fmt.Errorf("-upstream %q: want unix:PATH or tcp:HOST:PORT", *upstream)
		}
		srv.upstreamNet, srv.upstreamAddr = kind, addr
	}

	var listeners []net.Listener
	listen := func(addr string, serve func(net.Conn)) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		go acceptLoop(l, serve)
		return nil
	}
	for _, spec := range greetLate {
		addr, delayText, ok := strings.Cut(spec, "=")
		delay, err := time.ParseDuration(delayText)
		if !ok || err != nil {
			return fmt.Errorf("-greet-late %q: want ADDR=DELAY", spec)
		}
		if err := listen(addr, func(c net.Conn) { srv.greetLate(c, delay) }); err != nil {
			return err
		}
		log.Printf("fake: %s greets after %v (relaying %s)", addr, delay, *upstream)
	}
	for _, addr := range noGreeting {
		if err := listen(addr, srv.noGreeting); err != nil {
			return err
		}
		log.Printf("fake: %s never greets", addr)
	}
	for _, addr := range banner {
		if err := listen(addr, srv.banner); err != nil {
			return err
		}
		log.Printf("fake: %s greets with %q", addr, srv.bannerText)
	}
	if len(listeners) == 0 {
		return errors.New("nothing to serve: give -greet-late, -no-greeting or -banner")
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	log.Printf("fake: %v: closing listeners", s)
	for _, l := range listeners {
		l.Close()
	}
	return nil
}

func acceptLoop(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Printf("fake: accept on %s: %v", l.Addr(), err)
			}
			return
		}
		log.Printf("fake: %s: accepted %s", c.LocalAddr(), c.RemoteAddr())
		go serve(c)
	}
}

// greetLate waits delay whatever the client does, like a server stuck before
// its greeting (a reverse DNS lookup, a full thread pool), then relays the
// real server, so the greeting, login and queries are genuine. If the client
// gave up meanwhile, the greeting still goes out and meets a reset.
func (s *fakeServer) greetLate(c net.Conn, delay time.Duration) {
	defer c.Close()
	time.Sleep(delay)
	up, err := net.DialTimeout(s.upstreamNet, s.upstreamAddr, 5*time.Second)
	if err != nil {
		log.Printf("fake: %s: upstream %s: %v", c.RemoteAddr(), s.upstreamAddr, err)
		return
	}
	defer up.Close()
	log.Printf("fake: %s: %v passed, relaying %s", c.RemoteAddr(), delay, s.upstreamAddr)
	var wg sync.WaitGroup
	wg.Add(2)
	relay := func(dst, src net.Conn) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if err != nil {
			// A write failed (the client reset the connection) or a read
			// did: end both directions.
			dst.Close()
			src.Close()
			return
		}
		// src said EOF: pass it on and let the other direction finish
		// (a client that gave up still gets the server's greeting).
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	go relay(c, up)
	go relay(up, c)
	wg.Wait()
	log.Printf("fake: %s: closed", c.RemoteAddr())
}

// noGreeting accepts and stays silent until the client leaves (or -hold).
func (s *fakeServer) noGreeting(c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(s.hold))
	n, err := io.Copy(io.Discard, c)
	log.Printf("fake: %s: silent connection ended after reading %d bytes (%v)", c.RemoteAddr(), n, errOrEOF(err))
}

// banner talks like sshd: identification string first, then it waits for the
// client's; a client line that is not "SSH-..." gets sshd's complaint and the
// connection is closed; silence ends at -banner-grace.
func (s *fakeServer) banner(c net.Conn) {
	defer c.Close()
	if _, err := io.WriteString(c, s.bannerText); err != nil {
		log.Printf("fake: %s: writing banner: %v", c.RemoteAddr(), err)
		return
	}
	c.SetReadDeadline(time.Now().Add(s.bannerGrace))
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case err == nil && strings.HasPrefix(line, "SSH-"):
		log.Printf("fake: %s: client identified as %q; closing", c.RemoteAddr(), strings.TrimSpace(line))
	case len(line) > 0:
		io.WriteString(c, "Invalid SSH identification string.\r\n")
		log.Printf("fake: %s: client sent %d bytes that are not SSH; closing", c.RemoteAddr(), len(line))
	default:
		log.Printf("fake: %s: no identification from client (%v); closing", c.RemoteAddr(), errOrEOF(err))
	}
}

func errOrEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}
