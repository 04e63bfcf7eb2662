package probe

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// ResolvConf is what /etc/resolv.conf says, with glibc's defaults.
type ResolvConf struct {
	Path        string
	Servers     []netip.AddrPort
	Search      []string
	Ndots       int
	Timeout     time.Duration
	Attempts    int
	Rotate      bool
	Unsupported []string // lines or options the probe does not follow
	// Defaulted says no nameserver line was found: glibc then asks 127.0.0.1.
	Defaulted bool
}

// ParseResolvConf reads a resolv.conf. Like glibc: at most 3 nameservers, the
// last search/domain line wins, options ndots (max 15), timeout (max 30),
// attempts (max 5), rotate.
func ParseResolvConf(path string, r io.Reader) ResolvConf {
	c := ResolvConf{Path: path, Ndots: 1, Timeout: 5 * time.Second, Attempts: 2}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 || len(c.Servers) >= 3 {
				continue
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				c.Unsupported = append(c.Unsupported, line)
				continue
			}
			c.Servers = append(c.Servers, netip.AddrPortFrom(a.Unmap(), 53))
		case "search":
			c.Search = append([]string(nil), f[1:]...)
		case "domain":
			if len(f) > 1 {
				c.Search = []string{f[1]}
			}
		case "options":
			for _, o := range f[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, _ := strconv.Atoi(v)
				switch k {
				case "ndots":
					c.Ndots = min(max(n, 0), 15)
				case "timeout":
					c.Timeout = time.Duration(min(max(n, 1), 30)) * time.Second
				case "attempts":
					c.Attempts = min(max(n, 1), 5)
				case "rotate":
					c.Rotate = true
				case "edns0", "single-request", "single-request-reopen", "trust-ad", "no-aaaa":
					if k == "no-aaaa" {
						c.Unsupported = append(c.Unsupported, "options no-aaaa (glibc then asks no AAAA; the probe still does)")
					}
				default:
					c.Unsupported = append(c.Unsupported, "options "+o)
				}
			}
		}
	}
	if len(c.Servers) == 0 {
		c.Defaulted = true
		c.Servers = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 53)}
	}
	return c
}

// HostsMatch is one /etc/hosts line that names the host.
type HostsMatch struct {
	Line int
	Addr netip.Addr
}

// LookupHosts finds name in a hosts file (case-insensitive, as glibc).
func LookupHosts(r io.Reader, name string) []HostsMatch {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	var out []HostsMatch
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, h := range f[1:] {
			if strings.TrimSuffix(strings.ToLower(h), ".") == name {
				out = append(out, HostsMatch{Line: n, Addr: a.Unmap()})
				break
			}
		}
	}
	return out
}

// HostsSources is the hosts line of nsswitch.conf (default "files dns").
func HostsSources(r io.Reader) []string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "hosts" {
			continue
		}
		var out []string
		for _, f := range strings.Fields(v) {
			if strings.HasPrefix(f, "[") {
				continue // an action like [NOTFOUND=return]
			}
			out = append(out, f)
		}
		return out
	}
	return []string{"files", "dns"}
}

// Query is one DNS question sent to one server, or one hosts-file lookup.
type Query struct {
	Name    string
	Type    string // A, AAAA, or "hosts" for /etc/hosts
	Server  string // the server's address, or the hosts file's path
	Try     int    // 1-based attempt for this server
	Rcode   string // NOERROR, NXDOMAIN, SERVFAIL, …; "" when no answer
	Answers []netip.Addr
	CNAMEs  []string
	Time    time.Duration
	Err     string // "no answer within 5s", a socket error, …
}

// Resolution is what the system's configuration makes of a name.
type Resolution struct {
	Name     string
	Literal  bool // the target is an address: nothing was looked up
	Sources  []string
	Conf     ResolvConf
	Names    []string // the names tried, in order (search domains applied)
	Queries  []Query
	Unsorted []netip.Addr // as the answers came (A before AAAA per name)
	Addrs    []netip.Addr // in the order glibc's getaddrinfo would return them (RFC 6724)
	Order    []OrderNote  // why each address is where it is
	Time     time.Duration
	Err      string // why there are no addresses
}

// Resolver reads the system files; the paths are fields so tests can point
// them at fixtures.
type Resolver struct {
	HostsPath, ResolvConfPath, NSSwitchPath string
	// Exchange sends one query; nil means UDP to the server.
	Exchange func(ctx context.Context, server netip.AddrPort, msg []byte) ([]byte, error)
	// Source finds the source address for a destination (RFC 6724 rule
	// inputs); nil means a connected UDP socket's local address.
	Source func(dst netip.Addr) (netip.Addr, bool)
}

// SystemResolver reads /etc/hosts, /etc/resolv.conf and /etc/nsswitch.conf.
func SystemResolver() *Resolver {
	return &Resolver{HostsPath: "/etc/hosts", ResolvConfPath: "/etc/resolv.conf", NSSwitchPath: "/etc/nsswitch.conf"}
}

// CandidateNames applies the search list as glibc's res_search does: a name
// with a trailing dot is asked as is; one with at least ndots dots is asked
// as is first, then with each search domain; others with the search domains
// first.
func CandidateNames(name string, c ResolvConf) []string {
	if strings.HasSuffix(name, ".") {
		return []string{strings.TrimSuffix(name, ".")}
	}
	var withSearch []string
	for _, d := range c.Search {
		withSearch = append(withSearch, name+"."+strings.TrimSuffix(d, "."))
	}
	if strings.Count(name, ".") >= c.Ndots {
		return append([]string{name}, withSearch...)
	}
	return append(withSearch, name)
}

// Resolve looks name up as the system would.
func (r *Resolver) Resolve(ctx context.Context, name string) Resolution {
	start := time.Now()
	res := Resolution{Name: name}
	if a, err := netip.ParseAddr(name); err == nil {
		res.Literal = true
		res.Unsorted = []netip.Addr{a.Unmap()}
		res.Addrs, res.Order = r.sortAddrs(res.Unsorted)
		return res
	}
	res.Sources = []string{"files", "dns"}
	if f, err := os.Open(r.NSSwitchPath); err == nil {
		res.Sources = HostsSources(f)
		f.Close()
	}
	if f, err := os.Open(r.ResolvConfPath); err == nil {
		res.Conf = ParseResolvConf(r.ResolvConfPath, f)
		f.Close()
	} else {
		res.Conf = ParseResolvConf(r.ResolvConfPath, strings.NewReader(""))
		res.Conf.Unsupported = append(res.Conf.Unsupported, fmt.Sprintf("cannot read %s: %v (glibc then asks 127.0.0.1)", r.ResolvConfPath, err))
	}
	res.Names = CandidateNames(name, res.Conf)
	var lastErr string
	for _, src := range res.Sources {
		switch src {
		case "files":
			q := Query{Name: name, Type: "hosts", Server: r.HostsPath}
			t0 := time.Now()
			f, err := os.Open(r.HostsPath)
			if err != nil {
				q.Err = err.Error()
			} else {
				for _, m := range LookupHosts(f, name) {
					q.Answers = append(q.Answers, m.Addr)
				}
				f.Close()
			}
			q.Time = time.Since(t0)
			res.Queries = append(res.Queries, q)
			if len(q.Answers) > 0 {
				res.Unsorted = q.Answers
			}
		case "dns":
			res.Unsorted, lastErr = r.resolveDNS(ctx, &res)
		default:
			res.Queries = append(res.Queries, Query{Name: name, Type: src, Err: "nsswitch source " + src + " is not consulted by the probe"})
		}
		if len(res.Unsorted) > 0 {
			break
		}
	}
	res.Time = time.Since(start)
	if len(res.Unsorted) == 0 {
		if lastErr == "" {
			lastErr = "no source in nsswitch.conf's hosts line (" + strings.Join(res.Sources, " ") + ") knows " + name
		}
		res.Err = lastErr
		return res
	}
	res.Addrs, res.Order = r.sortAddrs(res.Unsorted)
	return res
}

// resolveDNS asks A and AAAA for each candidate name until one has
// addresses; each server in turn, up to attempts rounds, as glibc.
func (r *Resolver) resolveDNS(ctx context.Context, res *Resolution) ([]netip.Addr, string) {
	var lastErr string
	for _, name := range res.Names {
		var addrs []netip.Addr
		nx := 0
		// A and AAAA at once, as glibc sends them (unless single-request).
		types := []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
		type result struct {
			q     Query
			ok    bool
			tries []Query
		}
		results := make([]result, len(types))
		var wg sync.WaitGroup
		for i, typ := range types {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i].q, results[i].ok, results[i].tries = r.askServers(ctx, res.Conf, name, typ)
			}()
		}
		wg.Wait()
		var failedTypes []string
		failErr := ""
		for i, typ := range types {
			res.Queries = append(res.Queries, results[i].tries...)
			q, ok := results[i].q, results[i].ok
			addrs = append(addrs, q.Answers...)
			if !ok {
				if failErr != "" && failErr != q.Err {
					failErr += "; " + typeName(typ) + ": " + q.Err
				} else {
					failErr = q.Err
				}
				failedTypes = append(failedTypes, typeName(typ))
				lastErr = fmt.Sprintf("%s %s: %s", name, strings.Join(failedTypes, " and "), failErr)
				continue
			}
			if q.Rcode == "NXDOMAIN" {
				nx++
			}
		}
		if len(addrs) > 0 {
			return addrs, ""
		}
		if nx == 2 {
			lastErr = name + ": NXDOMAIN (no such name)"
		} else if lastErr == "" {
			lastErr = name + ": the name exists but has no A or AAAA record"
		}
	}
	return nil, lastErr
}

// ServerTimeout is how long glibc waits for server i (0-based) in each
// round: its res_send computes (timeout << i) / number of servers for every
// server but the first, at least 1 s.
func ServerTimeout(c ResolvConf, i int) time.Duration {
	secs := int(c.Timeout/time.Second) << i
	if i > 0 && len(c.Servers) > 0 {
		secs /= len(c.Servers)
	}
	if secs <= 0 {
		secs = 1
	}
	return time.Duration(secs) * time.Second
}

func typeName(t dnsmessage.Type) string {
	if t == dnsmessage.TypeAAAA {
		return "AAAA"
	}
	return "A"
}

// askServers asks each server in turn, attempts rounds; the first answer
// (any rcode but SERVFAIL/REFUSED, which glibc also skips) ends it.
func (r *Resolver) askServers(ctx context.Context, conf ResolvConf, name string, typ dnsmessage.Type) (Query, bool, []Query) {
	var last Query
	var tries []Query
	for try := 1; try <= conf.Attempts; try++ {
		for i, srv := range conf.Servers {
			q := r.ask(ctx, srv, name, typ, ServerTimeout(conf, i))
			q.Try = try
			tries = append(tries, q)
			last = q
			if q.Err == "" && q.Rcode != "SERVFAIL" && q.Rcode != "REFUSED" {
				return q, true, tries
			}
			if ctx.Err() != nil {
				return q, false, tries
			}
		}
	}
	if last.Err == "" && last.Rcode != "" {
		last.Err = "every server answered " + last.Rcode
	}
	return last, false, tries
}

func (r *Resolver) ask(ctx context.Context, srv netip.AddrPort, name string, typ dnsmessage.Type, timeout time.Duration) Query {
	q := Query{Name: name, Type: typeName(typ), Server: srv.Addr().String()}
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	qname, err := dnsmessage.NewName(strings.TrimSuffix(name, ".") + ".")
	if err != nil {
		q.Err = "cannot ask for " + name + ": " + err.Error()
		return q
	}
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: qname, Type: typ, Class: dnsmessage.ClassINET}},
	}
	b, err := msg.Pack()
	if err != nil {
		q.Err = err.Error()
		return q
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ex := r.Exchange
	if ex == nil {
		ex = exchangeUDP
	}
	t0 := time.Now()
	ans, err := ex(cctx, srv, b)
	q.Time = time.Since(t0)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			q.Err = fmt.Sprintf("no answer within %s (resolv.conf timeout, as glibc applies it to this server)", dur(timeout))
		} else {
			q.Err = err.Error()
		}
		return q
	}
	var p dnsmessage.Parser
	h, err := p.Start(ans)
	if err != nil {
		q.Err = "malformed answer: " + err.Error()
		return q
	}
	if h.ID != id {
		q.Err = "answer with the wrong id"
		return q
	}
	q.Rcode = rcodeName(h.RCode)
	if h.Truncated {
		q.Err = "answer truncated (TC): glibc would ask again over TCP; the probe does not"
	}
	if err := p.SkipAllQuestions(); err != nil {
		q.Err = "malformed answer: " + err.Error()
		return q
	}
	for {
		rh, err := p.AnswerHeader()
		if err != nil {
			break
		}
		switch rh.Type {
		case dnsmessage.TypeA:
			rr, err := p.AResource()
			if err == nil && typ == dnsmessage.TypeA {
				q.Answers = append(q.Answers, netip.AddrFrom4(rr.A))
			}
		case dnsmessage.TypeAAAA:
			rr, err := p.AAAAResource()
			if err == nil && typ == dnsmessage.TypeAAAA {
				q.Answers = append(q.Answers, netip.AddrFrom16(rr.AAAA))
			}
		case dnsmessage.TypeCNAME:
			rr, err := p.CNAMEResource()
			if err == nil {
				q.CNAMEs = append(q.CNAMEs, strings.TrimSuffix(rr.CNAME.String(), "."))
			}
		default:
			p.SkipAnswer()
		}
	}
	return q
}

func rcodeName(r dnsmessage.RCode) string {
	switch r {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	}
	return "RCODE" + strconv.Itoa(int(r))
}

func exchangeUDP(ctx context.Context, srv netip.AddrPort, msg []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", srv.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		// Skip anything that is not an answer to this question (id check
		// is the caller's; a too-short datagram is not an answer).
		if n >= 12 && buf[0] == msg[0] && buf[1] == msg[1] {
			return buf[:n], nil
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
