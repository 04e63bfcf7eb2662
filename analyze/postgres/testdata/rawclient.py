#!/usr/bin/env python3
"""rawclient.py HOST PORT: connection-phase exchanges libpq 15 does not make,
each on its own TCP connection, for record.sh: a GSSENCRequest, a
StartupMessage asking for protocol 3.1 with a _pq_ option (the server answers
NegotiateProtocolVersion), a protocol 2.0 StartupMessage, an invalid SASL
mechanism, and a CancelRequest with a made-up key."""
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])


def conn():
    s = socket.create_connection((host, port), timeout=5)
    return s


def startup(version, params):
    body = struct.pack("!I", version)
    for k, v in params:
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def read_until(s, stop=b"ZE"):
    """Reads typed messages until one whose type is in stop, or EOF."""
    buf = b""
    seen = []
    while True:
        while len(buf) >= 5:
            t = buf[0:1]
            n = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            seen.append(t)
            buf = buf[1 + n :]
            if t[0] in stop:
                return seen
        try:
            d = s.recv(4096)
        except socket.timeout:
            return seen
        if not d:
            return seen
        buf += d


def terminate(s):
    s.sendall(b"X\0\0\0\4")
    s.close()


# 1. GSSENCRequest: a server built with GSSAPI (Debian's is) answers 'G'
#    even without a keytab; then a GSSAPI token must follow, which we cannot
#    make, so we close. An 'N' lets the client continue in the clear.
s = conn()
s.sendall(struct.pack("!II", 8, 80877104))
answer = s.recv(1)
print("gssenc answer:", answer)
if answer == b"N":
    s.sendall(startup(0x30000, [("user", "lab"), ("database", "trustdb")]))
    print("after gssenc:", read_until(s))
    terminate(s)
else:
    s.close()

# 2. Protocol 3.1 and an unknown protocol option: NegotiateProtocolVersion.
s = conn()
s.sendall(startup(0x30001, [("user", "lab"), ("database", "trustdb"), ("_pq_.connscope_test", "1")]))
print("3.1:", read_until(s))
terminate(s)

# 3. Protocol 2.0: refused since PostgreSQL 14.
s = conn()
s.sendall(startup(0x20000, [("user", "lab"), ("database", "trustdb")]))
print("2.0:", read_until(s))
s.close()

# 4. SCRAM with a mechanism the server did not offer.
s = conn()
s.sendall(startup(0x30000, [("user", "lab"), ("database", "appdb")]))
print("sasl offer:", read_until(s, b"R"))
body = b"BOGUS-MECH\0" + struct.pack("!i", -1)
s.sendall(b"p" + struct.pack("!I", len(body) + 4) + body)
print("bogus mechanism:", read_until(s))
s.close()

# 5. A CancelRequest for no backend: the server closes without an answer.
s = conn()
s.sendall(struct.pack("!IIII", 16, 80877102, 4242, 0x5EC2E7))
print("cancel:", s.recv(1))
s.close()
