#!/bin/sh
# Records the client-first captures of testdata/clientfirst on loopback (root).
# Each case: one HTTP-like TCP connection whose client speaks first.
#   client-pause.pcap   the client waits 1.35 s after the handshake before its GET;
#                       the server answers at once                  -> slow: client
#   server-slow.pcap    the client sends at once; the server waits 1 s before
#                       answering (its ACK of the request comes at once) -> slow: server
#   no-response.pcap    the client sends at once; the server never answers;
#                       the client gives up (FIN) after 2 s           -> app.request_unanswered
#   backlog-full.pcap   the server's accept queue is full (backlog 0, one
#                       connection never accepted): the kernel drops the SYN,
#                       the client retransmits it 1 s later          -> slow: network
set -eu
out=$(cd "$(dirname "$0")" && pwd)
py=$(mktemp -d)
cat > "$py/srv.py" <<'PY'
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
if mode == "backlog":
    s.listen(0)
    hog = socket.create_connection(("127.0.0.1", port))  # fills the accept queue
    time.sleep(1.5)                                      # the client's SYN is dropped meanwhile
    c, _ = s.accept(); c.close()                         # the hog's slot; the retransmitted SYN gets in
    c, _ = s.accept()
else:
    s.listen(8)
    c, _ = s.accept()
req = c.recv(4096)
if mode == "slow":
    time.sleep(1.0)
if mode == "never":
    time.sleep(3); c.close(); sys.exit(0)
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
time.sleep(0.2); c.close()
PY
cat > "$py/cli.py" <<'PY'
import socket, sys, time
port, pause, wait = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
c = socket.create_connection(("127.0.0.1", port))
time.sleep(pause)
c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
c.settimeout(wait)
try:
    c.recv(4096)
except socket.timeout:
    pass
c.close()
PY
rec() { # name mode port pause wait
  tcpdump -U --immediate-mode -i lo -s 256 -w "$out/$1.pcap" "tcp port $3 and host 127.0.0.1" 2>/dev/null & td=$!
  sleep 1
  python3 "$py/srv.py" "$2" "$3" & sv=$!
  sleep 0.5
  if [ "$2" = backlog ]; then sleep 0.2; fi
  python3 "$py/cli.py" "$3" "$4" "$5" || true
  wait $sv || true
  sleep 1.5; kill $td; wait $td || true
}
rec client-pause fast  18081 1.35 5
rec server-slow  slow  18082 0    5
rec no-response  never 18083 0    2
rec backlog-full backlog 18084 0  5
rm -rf "$py"
