#!/usr/bin/env bash
# record.sh re-records the PostgreSQL connection-phase test vectors of
# analyze/postgres: it runs a throwaway PostgreSQL 15 cluster on loopback
# (port 25432, sockets and data in a temp dir), captures each scenario with
# tcpdump into <scenario>.pcap and extracts the TCP payloads into
# <scenario>.txt (one segment a line: "<tcp stream> c|s <hex>", c = client to
# server). Tests read only the committed .txt files.
#
# Needs root, Debian's postgresql (15), psql, tcpdump, tshark, python3.
# Idempotent: every run starts from an empty cluster and removes it at exit.
#
#   sudo analyze/postgres/testdata/record.sh
set -euo pipefail
cd "$(dirname "$0")"
out=$PWD

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=${PORT:-25432}
[[ $(id -u) == 0 ]] || { echo "record.sh: run as root (tcpdump and the postgres user need it)" >&2; exit 1; }
for t in "$PGBIN/initdb" "$PGBIN/pg_ctl" psql tcpdump tshark python3; do
	command -v "$t" > /dev/null || { echo "record.sh: $t not found; apt-get install -y postgresql tcpdump tshark" >&2; exit 1; }
done
SPORT=$((PORT + 1)) # the standby
if ss -ltn "( sport = :$PORT or sport = :$SPORT )" | grep -q LISTEN; then
	echo "record.sh: port $PORT or $SPORT is in use; set PORT=" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/pgrecord.XXXXXX)
chown postgres: "$tmp"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
	for d in "$tmp/data" "$tmp/standby"; do
		if [[ -f $d/postmaster.pid ]]; then
			runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" -m immediate stop > /dev/null 2>&1 || true
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

pg() { runuser -u postgres -- "$@"; }
pg "$PGBIN/initdb" -D "$tmp/data" -U postgres --auth=trust > "$tmp/initdb.log"
cat >> "$tmp/data/postgresql.conf" << EOF
port = $PORT
listen_addresses = '127.0.0.1,::1'
unix_socket_directories = '$tmp'
max_connections = 4
superuser_reserved_connections = 1
ssl = off
password_encryption = 'scram-sha-256'
EOF
# No ::1 line: connections over IPv6 get "no pg_hba.conf entry".
cat > "$tmp/data/pg_hba.conf" << EOF
local all all trust
local replication all trust
host rejectdb all 127.0.0.1/32 reject
host trustdb all 127.0.0.1/32 trust
host pwdb all 127.0.0.1/32 password
host all md5user 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
EOF
pg "$PGBIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w start > /dev/null
sql() { pg psql -X -q -h "$tmp" -p "$PORT" -U postgres -d postgres -c "$1" > /dev/null; }
sql "CREATE USER lab PASSWORD 'scram-secret-pw'"
sql "SET password_encryption = 'md5'; CREATE USER md5user PASSWORD 'md5-secret-pw'"
for db in appdb rejectdb trustdb pwdb; do sql "CREATE DATABASE $db"; done

: > "$out/scenarios.log"
# capture NAME CMD...: records CMD's connect into NAME.pcap and NAME.txt and
# logs its exit code and stderr (the client's error text) into scenarios.log.
capture() {
	local name=$1
	shift
	tcpdump -i lo -s 0 -U --immediate-mode -w "$tmp/$name.pcap" "tcp port $PORT or tcp port $SPORT" 2> "$tmp/$name.tcpdump" &
	local td=$!
	for _ in $(seq 100); do
		grep -qs "listening on" "$tmp/$name.tcpdump" && break
		sleep 0.1
	done
	local rc=0
	"$@" > "$tmp/$name.out" 2> "$tmp/$name.err" || rc=$?
	sleep 0.5
	kill -INT "$td"
	wait "$td" || true
	cp "$tmp/$name.pcap" "$out/$name.pcap"
	tshark -r "$tmp/$name.pcap" 2> /dev/null -Y "tcp.len > 0" -T fields -e tcp.stream -e tcp.srcport -e tcp.payload |
		awk -v port="$PORT" -v sport="$SPORT" '{ print $1, ($2 == port || $2 == sport ? "s" : "c"), $3 }' > "$out/$name.txt"
	{
		echo "== $name (exit $rc): $*"
		sed 's/^/   /' "$tmp/$name.err" "$tmp/$name.out"
	} >> "$out/scenarios.log"
}
PSQL=(psql -X -w -c 'select 1')

capture scram_ok env PGPASSWORD=scram-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=appdb application_name=connscope-test sslmode=disable"
capture ssl_prefer_n env PGPASSWORD=scram-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=appdb sslmode=prefer"
capture ssl_require_n env PGPASSWORD=scram-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=appdb sslmode=require"
capture md5_ok env PGPASSWORD=md5-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=md5user dbname=appdb sslmode=disable"
capture cleartext_ok env PGPASSWORD=scram-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=pwdb sslmode=disable"
capture trust_ok "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=trustdb sslmode=disable options=-cstatement_timeout=5s"
capture scram_wrong_password env PGPASSWORD=wrong-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=appdb sslmode=disable"
capture md5_wrong_password env PGPASSWORD=wrong-md5-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=md5user dbname=appdb sslmode=disable"
capture cleartext_wrong_password env PGPASSWORD=clear-wrong-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=pwdb sslmode=disable"
capture scram_no_such_user env PGPASSWORD=scram-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=ghost dbname=appdb sslmode=disable"
capture database_missing env PGPASSWORD=scram-secret-pw "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=nosuchdb sslmode=disable"
capture hba_reject "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=rejectdb sslmode=disable"
capture hba_no_entry "${PSQL[@]}" "host=::1 port=$PORT user=lab dbname=secretdb sslmode=disable"
capture cancel timeout -s INT 2 psql -X -w -c 'select pg_sleep(10)' "host=127.0.0.1 port=$PORT user=lab dbname=trustdb sslmode=disable"
capture raw_protocol python3 "$out/rawclient.py" 127.0.0.1 "$PORT"

# A standby with hot_standby = off refuses connections (57P03).
pg "$PGBIN/pg_basebackup" -h "$tmp" -p "$PORT" -U postgres -D "$tmp/standby" -R
cat >> "$tmp/standby/postgresql.conf" << EOF
port = $SPORT
hot_standby = off
EOF
pg "$PGBIN/pg_ctl" -D "$tmp/standby" -l "$tmp/standby.log" -w start > /dev/null
capture standby_no_hot "${PSQL[@]}" "host=127.0.0.1 port=$SPORT user=lab dbname=trustdb sslmode=disable"
pg "$PGBIN/pg_ctl" -D "$tmp/standby" -m fast -w stop > /dev/null

# Connection slots: 3 ordinary sessions fill max_connections minus the
# superuser's reserved one; a 4th ordinary user gets "remaining connection
# slots are reserved", a superuser takes the last slot, the next one gets
# "sorry, too many clients already".
hold() {
	psql -X -w -q -c 'select pg_sleep(60)' "host=127.0.0.1 port=$PORT user=$1 dbname=trustdb sslmode=disable" > /dev/null 2>&1 &
	pids+=($!)
}
for _ in 1 2 3; do hold lab; done
sleep 2
capture slots_reserved "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=trustdb sslmode=disable"
hold postgres
sleep 2
capture too_many_clients "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=postgres dbname=trustdb sslmode=disable"
# Smart shutdown waits for the sessions; meanwhile new ones are refused.
pg "$PGBIN/pg_ctl" -D "$tmp/data" -m smart -W stop > /dev/null
sleep 1
capture shutting_down "${PSQL[@]}" "host=127.0.0.1 port=$PORT user=lab dbname=trustdb sslmode=prefer"
for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
pids=()
pg "$PGBIN/pg_ctl" -D "$tmp/data" -w status > /dev/null 2>&1 && sleep 3
cp "$tmp/server.log" "$out/server.log.txt"
echo "recorded: $(cd "$out" && ls ./*.txt | wc -l) vectors in $out"
