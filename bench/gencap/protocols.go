package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
)

// MySQL client/server protocol packets as MariaDB 10.11 and its clients
// send them, and DNS messages as a stub resolver exchanges them.

var le = binary.LittleEndian

const serverVersion = "5.5.5-10.11.6-MariaDB-0+deb12u1"

// mysqlPacket frames body as packet number seq.
func mysqlPacket(seq byte, body []byte) []byte {
	p := make([]byte, 4, 4+len(body))
	p[0], p[1], p[2] = byte(len(body)), byte(len(body)>>8), byte(len(body)>>16)
	p[3] = seq
	return append(p, body...)
}

func lenenc(n int) []byte {
	switch {
	case n < 251:
		return []byte{byte(n)}
	case n < 1<<16:
		return []byte{0xfc, byte(n), byte(n >> 8)}
	default:
		return []byte{0xfd, byte(n), byte(n >> 8), byte(n >> 16)}
	}
}

func lenencStr(s string) []byte { return append(lenenc(len(s)), s...) }

// greeting is a HandshakeV10 packet.
func greeting(rng *rand.Rand, connID uint32, tls bool) []byte {
	b := []byte{10}
	b = append(b, serverVersion...)
	b = append(b, 0)
	b = le.AppendUint32(b, connID)
	for range 8 {
		b = append(b, byte(0x21+rng.IntN(90)))
	}
	b = append(b, 0)
	caps := uint32(0xf7fe) | 0x81bf<<16 // what MariaDB 10.11 announces
	if tls {
		caps |= 0x0800 // CLIENT_SSL
	} else {
		caps &^= 0x0800
	}
	b = le.AppendUint16(b, uint16(caps))
	b = append(b, 45)              // utf8mb4_general_ci
	b = le.AppendUint16(b, 0x0002) // SERVER_STATUS_AUTOCOMMIT
	b = le.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)
	b = append(b, make([]byte, 6)...)
	b = le.AppendUint32(b, 0x1d) // MariaDB extended capabilities
	for range 12 {
		b = append(b, byte(0x21+rng.IntN(90)))
	}
	b = append(b, 0)
	b = append(b, "mysql_native_password"...)
	b = append(b, 0)
	return mysqlPacket(0, b)
}

// handshakeResponse is a HandshakeResponse41 logging in as user to db.
func handshakeResponse(rng *rand.Rand, user, db string) []byte {
	caps := uint32(0x000aa20f) // LONG_PASSWORD|FOUND_ROWS|LONG_FLAG|CONNECT_WITH_DB|PROTOCOL_41|TRANSACTIONS|SECURE_CONNECTION|PLUGIN_AUTH|MULTI_RESULTS
	b := le.AppendUint32(nil, caps)
	b = le.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	b = append(b, user...)
	b = append(b, 0)
	b = append(b, 20)
	for range 20 {
		b = append(b, byte(rng.IntN(256)))
	}
	b = append(b, db...)
	b = append(b, 0)
	b = append(b, "mysql_native_password"...)
	b = append(b, 0)
	return mysqlPacket(1, b)
}

func okPacket(seq byte) []byte {
	return mysqlPacket(seq, []byte{0x00, 0, 0, 0x02, 0x00, 0, 0})
}

// errPacket is an ERR packet; sqlstate "" leaves out the #SQLSTATE marker,
// as servers do for errors sent instead of the greeting.
func errPacket(seq byte, code uint16, sqlstate, msg string) []byte {
	b := le.AppendUint16([]byte{0xff}, code)
	if sqlstate != "" {
		b = append(b, '#')
		b = append(b, sqlstate...)
	}
	return mysqlPacket(seq, append(b, msg...))
}

func comQuery(q string) []byte { return mysqlPacket(0, append([]byte{0x03}, q...)) }

func comQuit() []byte { return mysqlPacket(0, []byte{0x01}) }

var columns = []struct {
	name string
	typ  byte
}{{"id", 0x08}, {"customer", 0xfd}, {"status", 0xfd}, {"total", 0xf6}, {"created_at", 0x0c}}

// resultSet is the response to a SELECT: column count, definitions, EOF,
// rows, EOF (a client without CLIENT_DEPRECATE_EOF).
func resultSet(rng *rand.Rand, rows int) []byte {
	seq := byte(1)
	out := mysqlPacket(seq, lenenc(len(columns)))
	for _, c := range columns {
		seq++
		d := lenencStr("def")
		d = append(d, lenencStr("shop")...)
		d = append(d, lenencStr("orders")...)
		d = append(d, lenencStr("orders")...)
		d = append(d, lenencStr(c.name)...)
		d = append(d, lenencStr(c.name)...)
		d = append(d, 0x0c)
		d = le.AppendUint16(d, 45)
		d = le.AppendUint32(d, 255)
		d = append(d, c.typ, 0, 0, 0, 0, 0)
		out = append(out, mysqlPacket(seq, d)...)
	}
	seq++
	out = append(out, mysqlPacket(seq, []byte{0xfe, 0, 0, 0x22, 0})...)
	statuses := []string{"paid", "shipped", "pending", "refunded"}
	for range rows {
		seq++
		id := rng.IntN(10_000_000)
		r := lenencStr(fmt.Sprint(id))
		r = append(r, lenencStr(fmt.Sprintf("customer-%05d", rng.IntN(50000)))...)
		r = append(r, lenencStr(statuses[rng.IntN(len(statuses))])...)
		r = append(r, lenencStr(fmt.Sprintf("%d.%02d", rng.IntN(2000), rng.IntN(100)))...)
		r = append(r, lenencStr(fmt.Sprintf("2025-03-%02d %02d:%02d:%02d", 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60)))...)
		out = append(out, mysqlPacket(seq, r)...)
	}
	seq++
	return append(out, mysqlPacket(seq, []byte{0xfe, 0, 0, 0x22, 0})...)
}

func randomQuery(rng *rand.Rand) (q string, rows int) {
	switch rng.IntN(4) {
	case 0:
		return fmt.Sprintf("SELECT id, customer, status, total, created_at FROM orders WHERE id = %d", rng.IntN(10_000_000)), 1
	case 1:
		n := 1 + rng.IntN(40)
		return fmt.Sprintf("SELECT id, customer, status, total, created_at FROM orders WHERE customer = 'customer-%05d' ORDER BY created_at DESC LIMIT %d", rng.IntN(50000), n), n
	case 2:
		return fmt.Sprintf("SELECT id, customer, status, total, created_at FROM orders WHERE status = 'pending' AND created_at > NOW() - INTERVAL %d MINUTE", 1+rng.IntN(60)), rng.IntN(8)
	default:
		n := 10 + rng.IntN(50)
		return fmt.Sprintf("SELECT id, customer, status, total, created_at FROM orders ORDER BY id DESC LIMIT %d", n), n
	}
}

// DNS record types and rcodes.
const (
	dnsA        = 1
	dnsAAAA     = 28
	rcodeOK     = 0
	rcodeNXName = 3
)

func dnsName(b []byte, name string) []byte {
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func dnsQuery(id uint16, name string, qtype uint16) []byte {
	b := be.AppendUint16(nil, id)
	b = be.AppendUint16(b, 0x0100) // RD
	b = be.AppendUint16(b, 1)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = dnsName(b, name)
	b = be.AppendUint16(b, qtype)
	return be.AppendUint16(b, 1)
}

// dnsAnswer answers dnsQuery(id, name, qtype) with rcode and the records
// (4- or 16-byte addresses).
func dnsAnswer(id uint16, name string, qtype uint16, rcode int, addrs [][]byte) []byte {
	b := be.AppendUint16(nil, id)
	b = be.AppendUint16(b, 0x8180|uint16(rcode)) // QR RD RA
	b = be.AppendUint16(b, 1)
	b = be.AppendUint16(b, uint16(len(addrs)))
	b = append(b, 0, 0, 0, 0)
	b = dnsName(b, name)
	b = be.AppendUint16(b, qtype)
	b = be.AppendUint16(b, 1)
	for _, a := range addrs {
		b = append(b, 0xc0, 0x0c)
		b = be.AppendUint16(b, qtype)
		b = be.AppendUint16(b, 1)
		b = be.AppendUint32(b, 300)
		b = be.AppendUint16(b, uint16(len(a)))
		b = append(b, a...)
	}
	return b
}
