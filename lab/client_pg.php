<?php
// The lab's PHP PostgreSQL client: one PDO pdo_pgsql (libpq) connect, as an
// application does it.
//
//   php lab/client_pg.php [--host H] [--port P] [--user U] [--password X] [--db D]
//                         [--sslmode MODE] [--query SQL]
//
// --host is an address, a name or a unix socket directory (libpq's host=).
// The default query shows who the server thinks connected:
// current_user@client address ("local" over a unix socket).
//
// Timeouts: pdo_pgsql passes PDO::ATTR_TIMEOUT to libpq as connect_timeout
// and it wins over a connect_timeout in the DSN; its default is 30 s. With
// only "connect_timeout=3" in the DSN (PHP 8.2), a dropped SYN costs 30 s
// and 9 SYNs. So this client sets PDO::ATTR_TIMEOUT => 3, like psql's
// connect_timeout=3 in the lab.
//
// On success prints the server version and the query's first value and
// exits 0; on failure prints PDO's message (SQLSTATE[08006] [7] and libpq's
// text) on stderr and exits 1.

$opts = getopt('', ['host:', 'port:', 'user:', 'password:', 'db:', 'sslmode:', 'query:']);
$host = $opts['host'] ?? 'localhost';
$port = (int)($opts['port'] ?? 5432);
$user = $opts['user'] ?? 'lab';
$password = $opts['password'] ?? '';
$db = $opts['db'] ?? 'labdb';
$sslmode = $opts['sslmode'] ?? 'prefer';
$query = $opts['query'] ?? "SELECT current_user || '@' || coalesce(host(inet_client_addr()), 'local')";

$dsn = sprintf('pgsql:host=%s;port=%d;dbname=%s;sslmode=%s;connect_timeout=3', $host, $port, $db, $sslmode);
try {
    $pdo = new PDO($dsn, $user, $password, [
        PDO::ATTR_TIMEOUT => 3,
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    ]);
    $row = $pdo->query($query)->fetch(PDO::FETCH_NUM);
    printf("connected to PostgreSQL %s: %s\n", $pdo->getAttribute(PDO::ATTR_SERVER_VERSION), $row[0] ?? 'NULL');
    exit(0);
} catch (PDOException $e) {
    fprintf(STDERR, "pdo_pgsql error: %s\n", $e->getMessage());
    exit(1);
}
