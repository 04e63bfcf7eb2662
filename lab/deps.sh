#!/usr/bin/env bash
# Make sure the lab's Debian packages are installed.
#
# A fast no-op when every tool is present. As root, installs what is missing
# (saying so first); without root, says that the lab tests will skip and exits 0.
set -euo pipefail

# tool -> Debian package (Debian 12 names).
declare -A pkg_of=(
	[mariadbd]=mariadb-server
	[mariadb-install-db]=mariadb-server
	[mariadb]=mariadb-client
	[mariadb-admin]=mariadb-client
	[php]=php-cli
	[dnsmasq]=dnsmasq-base
	[nft]=nftables
	[tcpdump]=tcpdump
	[tshark]=tshark
	[dumpcap]=tshark
	[capinfos]=tshark
	[ip]=iproute2
	[ss]=iproute2
	[setpriv]=util-linux
	[flock]=util-linux
	[setsid]=util-linux
	[timeout]=coreutils
	[sysctl]=procps
	[psql]=postgresql-client
	[/usr/lib/postgresql/15/bin/initdb]=postgresql
	[/usr/lib/postgresql/15/bin/postgres]=postgresql
	[/usr/lib/postgresql/15/bin/pg_isready]=postgresql
)

# Debian keeps some of these in sbin, which a non-root PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

missing_tools=()
declare -A want=()
for tool in "${!pkg_of[@]}"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		missing_tools+=("$tool")
		want[${pkg_of[$tool]}]=1
	fi
done
# PHP without the mysqli extension (mysqlnd) cannot run lab/client.php.
# (When php itself is missing, php-mysql is installed with it.)
if ! command -v php >/dev/null 2>&1 || ! php -r 'exit(function_exists("mysqli_init") ? 0 : 1);' 2>/dev/null; then
	missing_tools+=("php-mysqli")
	want[php-mysql]=1
fi

# PHP without pdo_pgsql cannot run lab/client_pg.php.
if ! command -v php >/dev/null 2>&1 || ! php -r 'exit(in_array("pgsql", PDO::getAvailableDrivers()) ? 0 : 1);' 2>/dev/null; then
	missing_tools+=("php-pdo_pgsql")
	want[php-pgsql]=1
fi

# Debian's python3 without PyMySQL cannot run lab/client.py (the volume
# scenarios' busy mix).
if ! /usr/bin/python3 -c 'import pymysql' 2>/dev/null; then
	missing_tools+=("python3-pymysql")
	want[python3-pymysql]=1
fi

((${#missing_tools[@]} == 0)) && exit 0

packages=$(printf '%s\n' "${!want[@]}" | sort | tr '\n' ' ')
if [[ $(id -u) -ne 0 ]]; then
	echo "lab/deps.sh: missing ${missing_tools[*]} (Debian: ${packages% }); not root, so lab tests will skip" >&2
	exit 0
fi

echo "lab/deps.sh: missing ${missing_tools[*]}: installing Debian packages ${packages% }" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends $packages
