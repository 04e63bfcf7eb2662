#!/usr/bin/env bash
# connscope failure lab: network namespaces, real servers, firewall rules.
#
#   lab.sh up              build the lab (idempotent: a healthy lab is left alone)
#   lab.sh down            tear it down: our processes (by pidfile), namespaces, files
#   lab.sh status          say what is up; exit 0 only when everything is healthy
#   lab.sh exec NS CMD...  run CMD in namespace NS (client, router, server or cs-*)
#   lab.sh env             print the topology as KEY=VALUE (the Go package lab mirrors it)
#
# Topology (documentation addresses only; nothing is connected to the host's
# network, so no packet can leave the three namespaces):
#
#   cs-client [cs-c0] ---- [cs-r0] cs-router [cs-r1] ---- [cs-s0] cs-server
#   192.0.2.10/24           192.0.2.1   198.51.100.1      198.51.100.10/24
#   2001:db8:1::10/64       2001:db8:1::1  2001:db8:2::1  2001:db8:2::10/64
#
# See lab/README.md for the addresses and ports of every scenario.
#
# Environment: LAB_DIR (default /tmp/connscope-lab) holds every config, data
# directory, socket, log and pidfile; LAB_LOCK (default /tmp/connscope-lab.lock)
# serialises users of the lab (this script, lab/record.sh, Go tests). A caller
# that already holds the lock sets CONNSCOPE_LAB_LOCK_HELD=1.
set -euo pipefail

LAB_DIR=${LAB_DIR:-/tmp/connscope-lab}
LAB_LOCK=${LAB_LOCK:-/tmp/connscope-lab.lock}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- topology (keep in sync with lab/lab.go; TestTopologyMatchesScript checks) ---
NS_CLIENT=cs-client
NS_ROUTER=cs-router
NS_SERVER=cs-server
IF_CLIENT=cs-c0        # client side of client<->router
IF_ROUTER_C=cs-r0      # router side of client<->router
IF_ROUTER_S=cs-r1      # router side of router<->server
IF_SERVER=cs-s0        # server side of router<->server

CLIENT4=192.0.2.10            # the client's main address
CLIENT4_PTR_SLOW=192.0.2.11   # source towards SERVER4_PTR_SLOW: its PTR answers late
CLIENT4_PTR_NEVER=192.0.2.12  # source towards SERVER4_PTR_NEVER: its PTR never answers
CLIENT4_UNLISTED=192.0.2.13   # source towards SERVER4_UNLISTED: no MariaDB account matches it (1130)
ROUTER4_CLIENT=192.0.2.1
ROUTER4_SERVER=198.51.100.1
SERVER4=198.51.100.10
SERVER4_UNLISTED=198.51.100.13
SERVER4_PTR_SLOW=198.51.100.20
SERVER4_PTR_NEVER=198.51.100.21
DNS4=198.51.100.53            # dnsmasq: the client's resolver
SLOWDNS4=198.51.100.54        # labsrv dns: late/never answers; the server's resolver
ONLINK_NOHOST4=192.0.2.99     # on the client's link, nobody answers ARP
HOSTUNREACH4=203.0.113.10     # router has an unreachable route: ICMP host unreachable
NOROUTE4=203.0.113.200        # the client has no route at all
CLIENT6=2001:db8:1::10
ROUTER6_CLIENT=2001:db8:1::1
ROUTER6_SERVER=2001:db8:2::1
SERVER6=2001:db8:2::10
ONLINK_NOHOST6=2001:db8:1::99 # on the client's link, nobody answers NDP
HOSTUNREACH6=2001:db8:3::10   # router has an unreachable route: ICMPv6 no route
NOROUTE6=2001:db8:4::10       # the client has no route at all
BLACKHOLE6=2001:db8:5::10     # router silently discards (blackhole route)

PORT_MYSQL=3306          # mariadbd #1 (skip-name-resolve, max_connections=10)
PORT_MYSQL_RESOLVE=3307  # mariadbd #2 (name resolution on, host cache off)
PORT_MYSQL_TLS=3308      # mariadbd #3 (skip-name-resolve, TLS with a self-signed certificate)
PORT_CLOSED=3310         # nothing listens: RST
PORT_DROP=3311           # nft drop
PORT_REJECT_PORT=3312    # nft reject with icmp(v6) port-unreachable
PORT_REJECT_RESET=3313   # nft reject with tcp reset
PORT_REJECT_ADMIN=3314   # nft reject with icmp admin-prohibited / icmpv6 admin-prohibited
PORT_GREET_2S=3320       # labsrv: greets after 2 s (relays mariadbd #1)
PORT_GREET_5S=3321       # labsrv: greets after 5 s (relays mariadbd #1)
PORT_NO_GREETING=3322    # labsrv: accepts, never sends a byte
PORT_SSH_BANNER=3323     # labsrv: SSH-style banner
PORT_PG=5432             # PostgreSQL 15 #1 (max_connections=4, 1 reserved for superusers, ssl=off)
PORT_PG_STANDBY=5433     # PostgreSQL 15 #2: a standby with hot_standby=off (57P03, "not accepting connections")
PORT_PG_CLOSED=5440      # nothing listens: RST
PORT_PG_DROP=5441        # nft drop

DOMAIN=connscope.test
NAME_DUAL=dual.$DOMAIN            # A SERVER4 + AAAA SERVER6
NAME_V4ONLY=v4only.$DOMAIN        # A SERVER4 only
NAME_BLACKHOLE6=blackhole6.$DOMAIN # A SERVER4 + AAAA BLACKHOLE6
NAME_NXDOMAIN=nxdomain.$DOMAIN    # NXDOMAIN
NAME_DNS_LATE=late.slow.$DOMAIN   # answered by labsrv dns after 1.5 s (A SERVER4)
NAME_DNS_NEVER=never.slow.$DOMAIN # never answered

DB_USER=lab
DB_PASSWORD=labpass
DB_NAME=labdb
DB_DENIED=secret                  # exists; lab has no grant on it (1044)
DB_USER_ELSEWHERE=elsewhere       # allowed only from 198.51.100.99 (1130 design)

SOCK1=$LAB_DIR/m1/mysqld.sock               # mariadbd #1's unix socket
SOCK_MISSING=$LAB_DIR/m1/missing.sock       # never exists
SOCK_DENIED=$LAB_DIR/private/mysqld.sock    # hard link to SOCK1 in a 0700 root directory
SOCK_STALE=$LAB_DIR/stale/mysqld.sock       # a socket file nobody listens on
SOCK2=$LAB_DIR/m2/mysqld.sock
SOCK3=$LAB_DIR/m3/mysqld.sock
PG_BIN=/usr/lib/postgresql/15/bin
PG_SOCKDIR=$LAB_DIR/pg1                     # PostgreSQL #1's unix socket directory (.s.PGSQL.5432 in it)
PG_SOCKDIR_MISSING=$LAB_DIR/pg-missing      # never exists
PG_SOCKDIR_DENIED=$LAB_DIR/private          # hard link to #1's socket in a 0700 root directory
PG_SOCKDIR_STALE=$LAB_DIR/stale             # .s.PGSQL.5432 nobody listens on
PG_DB_REJECT=secret                         # pg_hba.conf rejects every connection to it (28000)
PG_DB_MISSING=nosuchdb                      # does not exist (3D000)

say() { printf 'lab: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, nft, servers); try: sudo $0 $*"
}

take_lock() {
	[[ ${CONNSCOPE_LAB_LOCK_HELD:-} == 1 ]] && return 0
	exec 9>"$LAB_LOCK"
	flock -w 900 9 || die "could not lock $LAB_LOCK within 900 s (another lab user holds it)"
}

# alive PID: the process exists and is not a zombie (an exited daemon whose
# parent, this script, is gone waits for init to reap it).
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z && $state != X ]]
}

# start NAME NS CMD...: start a daemon in a namespace, detached, fd 9 (the
# lock) closed, output to $LAB_DIR/log/NAME.log; remember its PID.
start() {
	local name=$1 ns=$2; shift 2
	ip netns exec "$ns" setsid "$@" </dev/null >>"$LAB_DIR/log/$name.log" 2>&1 9>&- &
	local pid=$!
	echo "$pid" >"$LAB_DIR/run/$name.pid"
	basename "$1" >"$LAB_DIR/run/$name.comm"
}

# stop_pidfiles: end the processes this lab started, by PID, checking that
# each PID still runs the program we started (PIDs get reused).
stop_pidfiles() {
	local f pid comm want sig pids=()
	for f in "$LAB_DIR"/run/*.pid; do
		[[ -e $f ]] || continue
		pid=$(<"$f")
		want=$(<"${f%.pid}.comm")
		alive "$pid" || { rm -f "$f"; continue; }
		comm=$(cat "/proc/$pid/comm" 2>/dev/null) || { rm -f "$f"; continue; }
		# /proc/PID/comm is cut at 15 characters.
		if [[ $comm != "${want:0:15}" ]]; then
			say "pid $pid from $f now runs '$comm', not '$want': left alone"
			rm -f "$f"
			continue
		fi
		# A daemon may ask for another signal than TERM (postgres: INT is
		# its fast shutdown; TERM would wait for its clients to leave).
		sig=TERM
		[[ -e ${f%.pid}.sig ]] && sig=$(<"${f%.pid}.sig")
		kill -"$sig" "$pid" 2>/dev/null || true
		pids+=("$pid")
	done
	local deadline=$((SECONDS + 15)) p still
	while ((${#pids[@]})); do
		still=()
		for p in "${pids[@]}"; do
			alive "$p" && still+=("$p")
		done
		pids=("${still[@]+"${still[@]}"}")
		((${#pids[@]})) || break
		if ((SECONDS >= deadline)); then
			say "pids ${pids[*]} ignored SIGTERM for 15 s: SIGKILL"
			kill -KILL "${pids[@]}" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	rm -f "$LAB_DIR"/run/*.pid "$LAB_DIR"/run/*.comm "$LAB_DIR"/run/*.sig
}

do_down() {
	if [[ -d $LAB_DIR/run ]]; then
		stop_pidfiles
	fi
	local ns leftover
	for ns in $NS_CLIENT $NS_ROUTER $NS_SERVER; do
		if [[ -e /run/netns/$ns ]]; then
			leftover=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
			[[ -z $leftover ]] || say "processes still in $ns (not started by this lab, left alone): $leftover"
			ip netns del "$ns" 2>/dev/null || say "could not delete namespace $ns"
		fi
		rm -rf "/etc/netns/$ns"
	done
	if [[ -e $LAB_DIR/.created-etc-netns ]]; then
		rmdir /etc/netns 2>/dev/null || true
	fi
	if [[ -d $LAB_DIR ]]; then
		[[ -e $LAB_DIR/.connscope-lab ]] || die "$LAB_DIR exists but is not a connscope lab directory: not removing it"
		rm -rf "$LAB_DIR"
	fi
}

# healthy: 0 when the namespaces exist and every daemon we started is alive.
healthy() {
	[[ -e $LAB_DIR/.up ]] || return 1
	local ns f pid
	for ns in $NS_CLIENT $NS_ROUTER $NS_SERVER; do
		[[ -e /run/netns/$ns ]] || return 1
	done
	for f in "$LAB_DIR"/run/*.pid; do
		[[ -e $f ]] || return 1
		pid=$(<"$f")
		alive "$pid" || return 1
	done
	# Every daemon this script starts (a lab built by an older lab.sh may
	# lack one).
	for f in dnsmasq labsrv-dns labsrv-fake mariadbd-1 mariadbd-2 mariadbd-3 postgres-1 postgres-2; do
		[[ -e $LAB_DIR/run/$f.pid ]] || return 1
	done
	return 0
}

sysctl_ns() { local ns=$1; shift; ip netns exec "$ns" sysctl -q -w "$@" >/dev/null; }

make_netns() {
	local ns
	for ns in $NS_CLIENT $NS_ROUTER $NS_SERVER; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		# No DAD (addresses usable at once), no router solicitations (no
		# capture noise).
		sysctl_ns "$ns" net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.accept_ra=0
	done
	ip link add "$IF_CLIENT" netns $NS_CLIENT type veth peer name "$IF_ROUTER_C" netns $NS_ROUTER
	ip link add "$IF_ROUTER_S" netns $NS_ROUTER type veth peer name "$IF_SERVER" netns $NS_SERVER

	local a
	ip -n $NS_CLIENT addr add $CLIENT4/24 dev $IF_CLIENT
	for a in $CLIENT4_PTR_SLOW $CLIENT4_PTR_NEVER $CLIENT4_UNLISTED; do
		ip -n $NS_CLIENT addr add $a/32 dev $IF_CLIENT
	done
	ip -n $NS_CLIENT addr add $CLIENT6/64 dev $IF_CLIENT nodad
	ip -n $NS_ROUTER addr add $ROUTER4_CLIENT/24 dev $IF_ROUTER_C
	ip -n $NS_ROUTER addr add $ROUTER6_CLIENT/64 dev $IF_ROUTER_C nodad
	ip -n $NS_ROUTER addr add $ROUTER4_SERVER/24 dev $IF_ROUTER_S
	ip -n $NS_ROUTER addr add $ROUTER6_SERVER/64 dev $IF_ROUTER_S nodad
	ip -n $NS_SERVER addr add $SERVER4/24 dev $IF_SERVER
	for a in $SERVER4_UNLISTED $SERVER4_PTR_SLOW $SERVER4_PTR_NEVER $DNS4 $SLOWDNS4; do
		ip -n $NS_SERVER addr add $a/32 dev $IF_SERVER
	done
	ip -n $NS_SERVER addr add $SERVER6/64 dev $IF_SERVER nodad

	ip -n $NS_CLIENT link set $IF_CLIENT up
	ip -n $NS_ROUTER link set $IF_ROUTER_C up
	ip -n $NS_ROUTER link set $IF_ROUTER_S up
	ip -n $NS_SERVER link set $IF_SERVER up
	# The client retransmits ARP/NDP every 500 ms, so an unanswered neighbour
	# fails after 3 probes = 1.5 s, well inside the clients' 3 s connect
	# timeout (with the kernel's 1 s it would race the timeout at 3 s).
	sysctl_ns $NS_CLIENT net.ipv4.neigh.$IF_CLIENT.retrans_time_ms=500 net.ipv6.neigh.$IF_CLIENT.retrans_time_ms=500

	# Permanent neighbour entries between client and router keep ARP/NDP out
	# of the captures, except in the scenarios about them (ONLINK_NOHOST4/6).
	local mac_client mac_router
	mac_router=$(ip -n $NS_ROUTER -br link show $IF_ROUTER_C | awk '{print $3}')
	mac_client=$(ip -n $NS_CLIENT -br link show $IF_CLIENT | awk '{print $3}')
	ip -n $NS_CLIENT neigh replace $ROUTER4_CLIENT lladdr "$mac_router" nud permanent dev $IF_CLIENT
	ip -n $NS_CLIENT neigh replace $ROUTER6_CLIENT lladdr "$mac_router" nud permanent dev $IF_CLIENT
	for a in $CLIENT4 $CLIENT4_PTR_SLOW $CLIENT4_PTR_NEVER $CLIENT4_UNLISTED $CLIENT6; do
		ip -n $NS_ROUTER neigh replace $a lladdr "$mac_client" nud permanent dev $IF_ROUTER_C
	done

	# Client: routes only to the lab prefixes (no default route, so NOROUTE4/6
	# really have none). Source addresses are chosen per destination so the
	# servers see the client address each scenario needs.
	ip -n $NS_CLIENT route add 198.51.100.0/24 via $ROUTER4_CLIENT src $CLIENT4
	ip -n $NS_CLIENT route add $SERVER4_UNLISTED/32 via $ROUTER4_CLIENT src $CLIENT4_UNLISTED
	ip -n $NS_CLIENT route add $SERVER4_PTR_SLOW/32 via $ROUTER4_CLIENT src $CLIENT4_PTR_SLOW
	ip -n $NS_CLIENT route add $SERVER4_PTR_NEVER/32 via $ROUTER4_CLIENT src $CLIENT4_PTR_NEVER
	ip -n $NS_CLIENT route add 203.0.113.0/25 via $ROUTER4_CLIENT src $CLIENT4
	ip -n $NS_CLIENT -6 route add 2001:db8:2::/64 via $ROUTER6_CLIENT
	ip -n $NS_CLIENT -6 route add 2001:db8:3::/64 via $ROUTER6_CLIENT
	ip -n $NS_CLIENT -6 route add 2001:db8:5::/64 via $ROUTER6_CLIENT

	# Router: forwards; 203.0.113.0/25 and 2001:db8:3::/64 are unreachable
	# (the router answers with ICMP host unreachable / ICMPv6 no route),
	# 2001:db8:5::/64 is a blackhole (silently discarded).
	sysctl_ns $NS_ROUTER net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n $NS_ROUTER route add unreachable 203.0.113.0/25
	ip -n $NS_ROUTER -6 route add unreachable 2001:db8:3::/64
	ip -n $NS_ROUTER -6 route add blackhole 2001:db8:5::/64

	# Server: everything through the router.
	ip -n $NS_SERVER route add default via $ROUTER4_SERVER
	ip -n $NS_SERVER -6 route add default via $ROUTER6_SERVER
}

make_firewall() {
	ip netns exec $NS_SERVER nft -f - <<EOF
table inet connscope_lab {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport { $PORT_DROP, $PORT_PG_DROP } drop
		meta nfproto ipv4 tcp dport $PORT_REJECT_PORT reject with icmp type port-unreachable
		meta nfproto ipv6 tcp dport $PORT_REJECT_PORT reject with icmpv6 type port-unreachable
		tcp dport $PORT_REJECT_RESET reject with tcp reset
		meta nfproto ipv4 tcp dport $PORT_REJECT_ADMIN reject with icmp type admin-prohibited
		meta nfproto ipv6 tcp dport $PORT_REJECT_ADMIN reject with icmpv6 type admin-prohibited
	}
}
EOF
}

make_resolvers() {
	[[ -d /etc/netns ]] || { mkdir -p /etc/netns && touch "$LAB_DIR/.created-etc-netns"; }
	mkdir -p /etc/netns/$NS_CLIENT /etc/netns/$NS_SERVER
	# The client asks dnsmasq; short timeouts keep the "never answered" run short.
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' $DNS4 >/etc/netns/$NS_CLIENT/resolv.conf
	# The servers (mariadbd #2's reverse lookups) ask the slow responder,
	# with glibc's default timeout (5 s) and attempts (2).
	printf 'nameserver %s\n' $SLOWDNS4 >/etc/netns/$NS_SERVER/resolv.conf
	# ip netns exec bind-mounts every file of /etc/netns/NS over /etc, so
	# lookups in the namespaces use these files, and only /etc/hosts' usual
	# localhost entries besides.
}

build_labsrv() {
	local go=${GO:-go}
	command -v "$go" >/dev/null || go=/usr/local/go/bin/go
	(cd "$REPO" && CGO_ENABLED=0 "$go" build -trimpath -o "$LAB_DIR/bin/labsrv" ./lab/labsrv) ||
		die "go build ./lab/labsrv failed"
}

start_dns() {
	cat >"$LAB_DIR/dnsmasq.conf" <<EOF
# connscope lab names. No upstream but the lab's slow responder.
no-resolv
no-hosts
no-poll
bind-interfaces
listen-address=$DNS4
port=53
user=nobody
group=nogroup
cache-size=0
log-queries
log-facility=-
local=/$DOMAIN/
server=/slow.$DOMAIN/$SLOWDNS4
host-record=$NAME_DUAL,$SERVER4,$SERVER6
host-record=$NAME_V4ONLY,$SERVER4
host-record=$NAME_BLACKHOLE6,$SERVER4,$BLACKHOLE6
EOF
	start dnsmasq $NS_SERVER dnsmasq --keep-in-foreground --conf-file="$LAB_DIR/dnsmasq.conf" --pid-file=
	start labsrv-dns $NS_SERVER "$LAB_DIR/bin/labsrv" dns -listen $SLOWDNS4:53 -domain slow.$DOMAIN \
		-late-name late.slow.$DOMAIN -late-delay 1200ms -late-a $SERVER4 \
		-never-name never.slow.$DOMAIN \
		-ptr-slow $CLIENT4_PTR_SLOW=ptr-slow.client.$DOMAIN -ptr-slow-delay 2s \
		-ptr-never $CLIENT4_PTR_NEVER
}

start_fake() {
	start labsrv-fake $NS_SERVER "$LAB_DIR/bin/labsrv" fake -upstream "unix:$SOCK1" \
		-greet-late "[::]:$PORT_GREET_2S=2s" -greet-late "[::]:$PORT_GREET_5S=5s" \
		-no-greeting "[::]:$PORT_NO_GREETING" -banner "[::]:$PORT_SSH_BANNER"
	mkdir -p "$LAB_DIR/stale"
	"$LAB_DIR/bin/labsrv" stale-socket "$SOCK_STALE"
}

mariadb_conf() { # N PORT EXTRA...
	local n=$1 port=$2; shift 2
	local d=$LAB_DIR/m$n
	{
		echo "[mariadbd]"
		echo "datadir=$d/data"
		echo "socket=$d/mysqld.sock"
		echo "pid-file=$d/mysqld.pid"
		echo "log-error=$d/error.log"
		echo "user=mysql"
		echo "port=$port"
		echo "bind-address=*"
		echo "innodb_buffer_pool_size=16M"
		echo "innodb_log_file_size=16M"
		echo "performance_schema=OFF"
		echo "skip-log-bin"
		echo "max_connect_errors=100000"
		printf '%s\n' "$@"
	} >"$d/my.cnf"
}

start_mariadb() {
	mkdir -p "$LAB_DIR/m1" "$LAB_DIR/m2" "$LAB_DIR/m3"
	chown mysql: "$LAB_DIR/m1" "$LAB_DIR/m2" "$LAB_DIR/m3"
	mariadb_conf 1 $PORT_MYSQL skip-name-resolve max_connections=10
	mariadb_conf 2 $PORT_MYSQL_RESOLVE host_cache_size=0
	# #3 offers TLS (mariadbd #1 must not: tls-required is about a server
	# without a certificate). A throwaway self-signed certificate; the lab's
	# clients do not verify it.
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tls.$DOMAIN" \
		-keyout "$LAB_DIR/m3/server-key.pem" -out "$LAB_DIR/m3/server-cert.pem" >"$LAB_DIR/log/openssl.log" 2>&1 ||
		die "openssl could not make mariadbd #3's certificate; see $LAB_DIR/log/openssl.log"
	chown mysql: "$LAB_DIR/m3/server-key.pem" "$LAB_DIR/m3/server-cert.pem"
	mariadb_conf 3 $PORT_MYSQL_TLS skip-name-resolve \
		"ssl_cert=$LAB_DIR/m3/server-cert.pem" "ssl_key=$LAB_DIR/m3/server-key.pem"
	# Initialise once and copy: mariadb-install-db is the slow part.
	mariadb-install-db --defaults-file="$LAB_DIR/m1/my.cnf" --auth-root-authentication-method=socket \
		--skip-test-db >"$LAB_DIR/log/install-db.log" 2>&1 ||
		die "mariadb-install-db failed; see $LAB_DIR/log/install-db.log"
	cp -a "$LAB_DIR/m1/data" "$LAB_DIR/m2/data"
	cp -a "$LAB_DIR/m1/data" "$LAB_DIR/m3/data"
	start mariadbd-1 $NS_SERVER mariadbd --defaults-file="$LAB_DIR/m1/my.cnf"
	start mariadbd-2 $NS_SERVER mariadbd --defaults-file="$LAB_DIR/m2/my.cnf"
	start mariadbd-3 $NS_SERVER mariadbd --defaults-file="$LAB_DIR/m3/my.cnf"
	local n
	for n in 1 2 3; do
		local deadline=$((SECONDS + 60))
		until mariadb-admin --no-defaults -S "$LAB_DIR/m$n/mysqld.sock" -u root ping >/dev/null 2>&1; do
			((SECONDS < deadline)) || die "mariadbd #$n did not start within 60 s; see $LAB_DIR/m$n/error.log"
			alive "$(<"$LAB_DIR/run/mariadbd-$n.pid")" || die "mariadbd #$n exited; see $LAB_DIR/m$n/error.log"
			sleep 0.2
		done
	done
	# #1: accounts only for the client's own addresses (and localhost), so a
	# client connecting from CLIENT4_UNLISTED matches no account at all: 1130.
	mariadb --no-defaults -S "$SOCK1" -u root <<EOF
DELETE FROM mysql.global_priv WHERE User='';
FLUSH PRIVILEGES;
CREATE DATABASE $DB_NAME;
CREATE DATABASE $DB_DENIED;
CREATE USER '$DB_USER'@'$CLIENT4' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER '$DB_USER'@'$CLIENT6' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER '$DB_USER_ELSEWHERE'@'198.51.100.99' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'$CLIENT4', '$DB_USER'@'$CLIENT6', '$DB_USER'@'localhost';
GRANT ALL ON $DB_NAME.* TO '$DB_USER_ELSEWHERE'@'198.51.100.99';
EOF
	# #2: one account from anywhere; what matters is the reverse lookup the
	# server makes before its greeting.
	mariadb --no-defaults -S "$SOCK2" -u root <<EOF
DELETE FROM mysql.global_priv WHERE User='';
FLUSH PRIVILEGES;
CREATE DATABASE $DB_NAME;
CREATE USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'%';
EOF
	# #3: the client's own addresses, as on #1.
	mariadb --no-defaults -S "$SOCK3" -u root <<EOF
DELETE FROM mysql.global_priv WHERE User='';
FLUSH PRIVILEGES;
CREATE DATABASE $DB_NAME;
CREATE USER '$DB_USER'@'$CLIENT4' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER '$DB_USER'@'$CLIENT6' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'$CLIENT4', '$DB_USER'@'$CLIENT6';
EOF
	# A real socket behind a directory only root may enter (permission denied
	# for anyone else): a hard link to #1's socket.
	mkdir -m 0700 "$LAB_DIR/private"
	ln "$SOCK1" "$SOCK_DENIED"
}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

pg_conf() { # DIR PORT SOCKDIR EXTRA...: settings appended to DIR/data/postgresql.conf
	local d=$1 port=$2 sockdir=$3; shift 3
	{
		echo "# connscope lab"
		echo "listen_addresses = '$SERVER4,$SERVER6'"
		echo "port = $port"
		echo "unix_socket_directories = '$sockdir'"
		echo "ssl = off"
		echo "password_encryption = 'scram-sha-256'"
		echo "shared_buffers = 16MB"
		echo "fsync = off"
		echo "autovacuum = off"
		echo "logging_collector = off"
		echo "log_connections = on"
		printf '%s\n' "$@"
	} >>"$d/data/postgresql.conf"
}

# start_postgres: PostgreSQL 15 #1 (the scenarios' server) and #2 (a standby
# with hot_standby=off: every connection gets 57P03). Both have their own
# data directory under LAB_DIR, made by initdb once and copied; Debian's
# own cluster (/etc/postgresql/15/main) is not touched and does not matter:
# these listen in cs-server only, with their sockets in LAB_DIR.
start_postgres() {
	[[ -x $PG_BIN/initdb ]] || die "no $PG_BIN/initdb (Debian package postgresql-15; bash lab/deps.sh installs it)"
	mkdir -p "$LAB_DIR/pg1" "$LAB_DIR/pg2"
	chown postgres: "$LAB_DIR/pg1" "$LAB_DIR/pg2"
	as_postgres "$PG_BIN/initdb" -D "$LAB_DIR/pg1/data" -U postgres --auth-local=peer --auth-host=reject \
		--no-sync --no-instructions -E UTF8 --locale=C >"$LAB_DIR/log/initdb.log" 2>&1 ||
		die "initdb failed; see $LAB_DIR/log/initdb.log"
	cp -a "$LAB_DIR/pg1/data" "$LAB_DIR/pg2/data"
	# #1: 4 slots, 1 of them for superusers: 3 sessions of lab fill the
	# ordinary ones (the next lab login is refused after authentication,
	# 53300 "remaining connection slots are reserved ..."); one more of
	# postgres fills the last (the next connection is refused before
	# authentication, 53300 "sorry, too many clients already").
	pg_conf "$LAB_DIR/pg1" $PORT_PG "$PG_SOCKDIR" "max_connections = 4" "superuser_reserved_connections = 1"
	cat >"$LAB_DIR/pg1/data/pg_hba.conf" <<EOF
# connscope lab. TYPE DATABASE USER ADDRESS METHOD
local all postgres peer
local all $DB_USER scram-sha-256
host $PG_DB_REJECT all 0.0.0.0/0 reject
host $PG_DB_REJECT all ::/0 reject
host all $DB_USER 0.0.0.0/0 scram-sha-256
host all $DB_USER ::/0 scram-sha-256
EOF
	# #2: a standby (standby.signal) with nothing to replicate from and
	# hot_standby=off: it stays in recovery and answers every connection
	# with 57P03 "the database system is not accepting connections".
	pg_conf "$LAB_DIR/pg2" $PORT_PG_STANDBY "$LAB_DIR/pg2" "hot_standby = off"
	touch "$LAB_DIR/pg2/data/standby.signal"
	chown postgres: "$LAB_DIR/pg2/data/standby.signal"
	local n
	for n in 1 2; do
		start postgres-$n $NS_SERVER setpriv --reuid=postgres --regid=postgres --init-groups \
			"$PG_BIN/postgres" -D "$LAB_DIR/pg$n/data"
		echo postgres >"$LAB_DIR/run/postgres-$n.comm"
		echo INT >"$LAB_DIR/run/postgres-$n.sig"
	done
	# pg_isready: 0 accepting (#1), 1 rejecting (#2, the standby).
	local want rc deadline
	for n in 1 2; do
		want=$((n - 1)) deadline=$((SECONDS + 60))
		while :; do
			rc=0
			"$PG_BIN/pg_isready" -q -h "$LAB_DIR/pg$n" -p $((PORT_PG + n - 1)) || rc=$?
			((rc == want)) && break
			((SECONDS < deadline)) || die "postgres #$n not ready within 60 s (pg_isready $rc); see $LAB_DIR/log/postgres-$n.log"
			alive "$(<"$LAB_DIR/run/postgres-$n.pid")" || die "postgres #$n exited; see $LAB_DIR/log/postgres-$n.log"
			sleep 0.2
		done
	done
	as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p $PORT_PG -d postgres >>"$LAB_DIR/log/postgres-1.log" 2>&1 <<EOF ||
CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD';
CREATE DATABASE $DB_NAME OWNER $DB_USER;
CREATE DATABASE $PG_DB_REJECT;
EOF
		die "creating postgres #1's role and databases failed; see $LAB_DIR/log/postgres-1.log"
	# permission denied: #1's socket behind the 0700 root directory (made
	# by start_mariadb); stale: a socket file nobody listens on.
	ln "$PG_SOCKDIR/.s.PGSQL.$PORT_PG" "$PG_SOCKDIR_DENIED/.s.PGSQL.$PORT_PG"
	"$LAB_DIR/bin/labsrv" stale-socket "$PG_SOCKDIR_STALE/.s.PGSQL.$PORT_PG"
}

wait_listening() { # NS PROTO ADDR:PORT...
	local ns=$1 proto=$2; shift 2
	local want deadline=$((SECONDS + 20))
	for want in "$@"; do
		until ip netns exec "$ns" ss -Hln"$proto" "sport = :${want##*:}" | grep -q .; do
			((SECONDS < deadline)) || die "nothing listens on $want ($proto) in $ns after 20 s; see $LAB_DIR/log/"
			sleep 0.1
		done
	done
}

do_up() {
	if healthy; then
		say "already up ($LAB_DIR)"
		return 0
	fi
	do_down
	trap 'say "up failed: tearing down"; do_down' EXIT
	trap 'exit 130' INT TERM
	mkdir -m 0755 -p "$LAB_DIR"
	touch "$LAB_DIR/.connscope-lab"
	mkdir -p "$LAB_DIR/run" "$LAB_DIR/log" "$LAB_DIR/bin"
	build_labsrv
	make_netns
	make_firewall
	make_resolvers
	start_dns
	start_mariadb
	start_fake
	start_postgres
	wait_listening $NS_SERVER u :53
	wait_listening $NS_SERVER t :$PORT_MYSQL :$PORT_MYSQL_RESOLVE :$PORT_MYSQL_TLS :$PORT_GREET_2S :$PORT_GREET_5S \
		:$PORT_NO_GREETING :$PORT_SSH_BANNER :$PORT_PG :$PORT_PG_STANDBY
	touch "$LAB_DIR/.up"
	trap - EXIT INT TERM
	say "up: namespaces $NS_CLIENT $NS_ROUTER $NS_SERVER, state in $LAB_DIR"
}

do_status() {
	local ns f rc=0
	for ns in $NS_CLIENT $NS_ROUTER $NS_SERVER; do
		if [[ -e /run/netns/$ns ]]; then echo "namespace $ns: present"; else echo "namespace $ns: missing"; rc=1; fi
	done
	if [[ -d $LAB_DIR/run ]]; then
		for f in "$LAB_DIR"/run/*.pid; do
			[[ -e $f ]] || continue
			local name pid
			name=$(basename "$f" .pid)
			pid=$(<"$f")
			if alive "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: dead (pid $pid)"; rc=1; fi
		done
	else
		echo "no lab state in $LAB_DIR"
		rc=1
	fi
	[[ -e $LAB_DIR/.up ]] || rc=1
	if ((rc == 0)); then echo "lab: up"; else echo "lab: down or broken (make lab-down; make lab-up)"; fi
	return $rc
}

do_env() {
	local v
	for v in NS_CLIENT NS_ROUTER NS_SERVER IF_CLIENT IF_ROUTER_C IF_ROUTER_S IF_SERVER \
		CLIENT4 CLIENT4_PTR_SLOW CLIENT4_PTR_NEVER CLIENT4_UNLISTED ROUTER4_CLIENT ROUTER4_SERVER \
		SERVER4 SERVER4_UNLISTED SERVER4_PTR_SLOW SERVER4_PTR_NEVER DNS4 SLOWDNS4 ONLINK_NOHOST4 \
		HOSTUNREACH4 NOROUTE4 CLIENT6 ROUTER6_CLIENT ROUTER6_SERVER SERVER6 ONLINK_NOHOST6 \
		HOSTUNREACH6 NOROUTE6 BLACKHOLE6 PORT_MYSQL PORT_MYSQL_RESOLVE PORT_MYSQL_TLS PORT_CLOSED PORT_DROP \
		PORT_REJECT_PORT PORT_REJECT_RESET PORT_REJECT_ADMIN PORT_GREET_2S PORT_GREET_5S \
		PORT_NO_GREETING PORT_SSH_BANNER PORT_PG PORT_PG_STANDBY PORT_PG_CLOSED PORT_PG_DROP DOMAIN NAME_DUAL NAME_V4ONLY NAME_BLACKHOLE6 NAME_NXDOMAIN \
		NAME_DNS_LATE NAME_DNS_NEVER DB_USER DB_PASSWORD DB_NAME DB_DENIED DB_USER_ELSEWHERE \
		LAB_DIR SOCK1 SOCK2 SOCK3 SOCK_MISSING SOCK_DENIED SOCK_STALE \
		PG_SOCKDIR PG_SOCKDIR_MISSING PG_SOCKDIR_DENIED PG_SOCKDIR_STALE PG_DB_REJECT PG_DB_MISSING; do
		printf '%s=%s\n' "$v" "${!v}"
	done
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
up) need_root up; take_lock; do_up ;;
down) need_root down; take_lock; do_down; say "down" ;;
status) do_status ;;
env) do_env ;;
exec)
	[[ $# -ge 2 ]] || die "usage: lab.sh exec NS CMD..."
	need_root exec
	ns=$1; shift
	[[ $ns == cs-* ]] || ns=cs-$ns
	exec ip netns exec "$ns" "$@"
	;;
*)
	echo "usage: $0 up|down|status|exec NS CMD...|env" >&2
	exit 2
	;;
esac
