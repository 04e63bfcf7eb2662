package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsZone is everything the responder knows. Names are lower case and
// fully qualified (trailing dot).
type dnsZone struct {
	domain    string                // answer NXDOMAIN for other names under it
	late      map[string]netip.Addr // name -> A record, answered after lateDelay
	lateDelay time.Duration
	never     map[string]bool            // names (and PTR names) never answered
	ptrSlow   map[string]dnsmessage.Name // PTR name -> target, answered after ptrDelay
	hosts     map[string]netip.Addr      // forward records of the PTR targets, answered at once
	ptrDelay  time.Duration
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// ptrName is the in-addr.arpa / ip6.arpa name of addr.
func ptrName(addr netip.Addr) string {
	if addr.Is4() {
		b := addr.As4()
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0])
	}
	const hexDigits = "0123456789abcdef"
	b := addr.As16()
	var sb strings.Builder
	for i := len(b) - 1; i >= 0; i-- {
		sb.WriteByte(hexDigits[b[i]&0xf])
		sb.WriteByte('.')
		sb.WriteByte(hexDigits[b[i]>>4])
		sb.WriteByte('.')
	}
	sb.WriteString("ip6.arpa.")
	return sb.String()
}

func runDNS(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:5353", "UDP address to answer on")
	domain := fs.String("domain", "slow.connscope.test", "zone: unknown names under it get NXDOMAIN, names elsewhere REFUSED")
	var lateNames, neverNames, ptrSlow, ptrNever multiFlag
	fs.Var(&lateNames, "late-name", "name answered only after -late-delay (repeatable)")
	lateDelay := fs.Duration("late-delay", 1500*time.Millisecond, "delay before answering a -late-name")
	lateA := fs.String("late-a", "198.51.100.10", "the A record of the -late-name names (AAAA: no data)")
	fs.Var(&neverNames, "never-name", "name never answered (repeatable)")
	fs.Var(&ptrSlow, "ptr-slow", "IP=NAME: answer the PTR of IP with NAME after -ptr-slow-delay, and NAME's A at once (repeatable)")
	ptrDelay := fs.Duration("ptr-slow-delay", 2*time.Second, "delay before answering a -ptr-slow PTR")
	fs.Var(&ptrNever, "ptr-never", "IP whose PTR query is never answered (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	zone := &dnsZone{
		domain:    fqdn(*domain),
		late:      map[string]netip.Addr{},
		lateDelay: *lateDelay,
		never:     map[string]bool{},
		ptrSlow:   map[string]dnsmessage.Name{},
		hosts:     map[string]netip.Addr{},
		ptrDelay:  *ptrDelay,
	}
	a, err := netip.ParseAddr(*lateA)
	if err != nil || !a.Is4() {
		return fmt.Errorf("-late-a %q: not an IPv4 address", *lateA)
	}
	for _, n := range lateNames {
		zone.late[fqdn(n)] = a
	}
	for _, n := range neverNames {
		zone.never[fqdn(n)] = true
	}
	for _, kv := range ptrSlow {
		ipText, name, ok := strings.Cut(kv, "=")
		ip, err := netip.ParseAddr(ipText)
		if !ok || err != nil {
			return fmt.Errorf("-ptr-slow %q: want IP=NAME", kv)
		}
		target, err := dnsmessage.NewName(fqdn(name))
		if err != nil {
			return fmt.Errorf("-ptr-slow %q: %v", kv, err)
		}
		zone.ptrSlow[ptrName(ip)] = target
		zone.hosts[fqdn(name)] = ip
	}
	for _, ipText := range ptrNever {
		ip, err := netip.ParseAddr(ipText)
		if err != nil {
			return fmt.Errorf("-ptr-never %q: %v", ipText, err)
		}
		zone.never[ptrName(ip)] = true
	}

	conn, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	log.Printf("dns: answering on udp %s", conn.LocalAddr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		conn.Close()
	}()

	buf := make([]byte, 4096)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		reply, delay, what := zone.answer(buf[:n])
		log.Printf("dns: %s: %s", from, what)
		if reply == nil {
			continue
		}
		if delay == 0 {
			conn.WriteTo(reply, from)
			continue
		}
		time.AfterFunc(delay, func() {
			if _, err := conn.WriteTo(reply, from); err == nil {
				log.Printf("dns: %s: late answer sent after %v", from, delay)
			}
		})
	}
}

// answer builds the reply to one query, the delay before sending it, and a
// line for the log. A nil reply means: stay silent.
func (z *dnsZone) answer(query []byte) (reply []byte, delay time.Duration, what string) {
	var p dnsmessage.Parser
	hdr, err := p.Start(query)
	if err != nil {
		return nil, 0, fmt.Sprintf("unparsable query (%v): ignored", err)
	}
	q, err := p.Question()
	if err != nil {
		return nil, 0, fmt.Sprintf("query without a question (%v): ignored", err)
	}
	name := strings.ToLower(q.Name.String())
	what = fmt.Sprintf("%s %s", q.Type, name)

	rcode := dnsmessage.RCodeSuccess
	var build func(b *dnsmessage.Builder) error
	rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}
	switch {
	case z.never[name]:
		return nil, 0, what + ": never answered"
	case z.late[name].IsValid():
		delay = z.lateDelay
		if q.Type == dnsmessage.TypeA {
			a := z.late[name].As4()
			build = func(b *dnsmessage.Builder) error { return b.AResource(rr, dnsmessage.AResource{A: a}) }
		}
	case z.ptrSlow[name].Length > 0:
		delay = z.ptrDelay
		if q.Type == dnsmessage.TypePTR {
			target := z.ptrSlow[name]
			build = func(b *dnsmessage.Builder) error { return b.PTRResource(rr, dnsmessage.PTRResource{PTR: target}) }
		}
	case z.hosts[name].IsValid():
		addr := z.hosts[name]
		if q.Type == dnsmessage.TypeA && addr.Is4() {
			build = func(b *dnsmessage.Builder) error { return b.AResource(rr, dnsmessage.AResource{A: addr.As4()}) }
		}
		if q.Type == dnsmessage.TypeAAAA && addr.Is6() {
			build = func(b *dnsmessage.Builder) error {
				return b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: addr.As16()})
			}
		}
	case strings.HasSuffix(name, "."+z.domain) || name == z.domain ||
		strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa."):
		rcode = dnsmessage.RCodeNameError
	default:
		rcode = dnsmessage.RCodeRefused
	}

	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: hdr.ID, Response: true, Authoritative: rcode != dnsmessage.RCodeRefused,
		RecursionDesired: hdr.RecursionDesired, RCode: rcode,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, 0, what + ": " + err.Error()
	}
	if err := b.Question(q); err != nil {
		return nil, 0, what + ": " + err.Error()
	}
	if err := b.StartAnswers(); err != nil {
		return nil, 0, what + ": " + err.Error()
	}
	answers := "no data"
	if build != nil {
		if err := build(&b); err != nil {
			return nil, 0, what + ": " + err.Error()
		}
		answers = "1 answer"
	}
	reply, err = b.Finish()
	if err != nil {
		return nil, 0, what + ": " + err.Error()
	}
	if rcode != dnsmessage.RCodeSuccess {
		answers = rcode.String()
	}
	if delay > 0 {
		return reply, delay, fmt.Sprintf("%s: %s, answered after %v", what, answers, delay)
	}
	return reply, 0, fmt.Sprintf("%s: %s", what, answers)
}
