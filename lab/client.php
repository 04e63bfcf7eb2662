<?php
// The lab's PHP client: one mysqli (mysqlnd) connect, as an application does it.
//
//   php lab/client.php [--host H] [--port P] [--user U] [--password X] [--db D]
//                      [--socket PATH] [--flags ssl[,noverify][,compress]] [--query SQL]
//
// The default query is SELECT USER(): who the server thinks connected.
//
// MYSQLI_OPT_CONNECT_TIMEOUT is 3 s, like the mariadb CLI's --connect-timeout=3;
// nothing else is tuned (mysqlnd's read timeout stays at php.ini's
// mysqlnd.net_read_timeout). On success prints the server version and the
// query's first value and exits 0; on failure prints mysqli's error code and
// text on stderr and exits 1.

$opts = getopt('', ['host:', 'port:', 'user:', 'password:', 'db:', 'socket:', 'flags:', 'query:']);
$host = $opts['host'] ?? 'localhost';
$port = (int)($opts['port'] ?? 3306);
$user = $opts['user'] ?? 'lab';
$password = $opts['password'] ?? '';
$db = $opts['db'] ?? null;
$socket = $opts['socket'] ?? null;
$query = $opts['query'] ?? 'SELECT USER()';
$flags = 0;
foreach (array_filter(explode(',', $opts['flags'] ?? '')) as $flag) {
    switch ($flag) {
        case 'ssl':
            $flags |= MYSQLI_CLIENT_SSL;
            break;
        case 'noverify': // TLS without checking the server's certificate (the lab's is self-signed)
            $flags |= MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT;
            break;
        case 'compress':
            $flags |= MYSQLI_CLIENT_COMPRESS;
            break;
        default:
            fwrite(STDERR, "client.php: unknown flag '$flag' (want ssl, noverify, compress)\n");
            exit(2);
    }
}

// Exceptions (PHP 8.1's default, made explicit): one error, one message.
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
try {
    $link = mysqli_init();
    $link->options(MYSQLI_OPT_CONNECT_TIMEOUT, 3);
    $link->real_connect($host, $user, $password, $db, $port, $socket, $flags);
    $result = $link->query($query);
    $row = $result->fetch_row();
    printf("connected to %s (%s): %s\n", $link->server_info, $link->host_info, $row[0] ?? 'NULL');
    $link->close();
    exit(0);
} catch (mysqli_sql_exception $e) {
    fprintf(STDERR, "mysqli error %d: %s\n", $e->getCode(), $e->getMessage());
    exit(1);
}
