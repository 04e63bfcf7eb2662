#!/usr/bin/python3
# The lab's Python client: one PyMySQL connect (python3-pymysql, pure
# Python), as an application does it.
#
#   /usr/bin/python3 lab/client.py [--host H] [--port P] [--user U] [--password X] [--query SQL]
#
# connect_timeout is 3 s, like the mariadb CLI's --connect-timeout=3. On
# success prints the server version and the query's first value and exits 0;
# on failure prints PyMySQL's error code and text on stderr and exits 1.
import argparse
import sys

import pymysql

p = argparse.ArgumentParser()
p.add_argument("--host", default="localhost")
p.add_argument("--port", type=int, default=3306)
p.add_argument("--user", default="lab")
p.add_argument("--password", default="")
p.add_argument("--query", default="SELECT USER()")
a = p.parse_args()
try:
    conn = pymysql.connect(host=a.host, port=a.port, user=a.user, password=a.password, connect_timeout=3)
    with conn.cursor() as cur:
        cur.execute(a.query)
        row = cur.fetchone()
    print("connected to %s (%s:%d): %s" % (conn.get_server_info(), a.host, a.port, row[0] if row else "NULL"))
    conn.close()
except pymysql.err.MySQLError as e:
    code = e.args[0] if e.args else 0
    text = e.args[1] if len(e.args) > 1 else str(e)
    print("pymysql error %s: %s" % (code, text), file=sys.stderr)
    sys.exit(1)
