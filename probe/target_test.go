package probe

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, proto                         string
		wantProto, host, socket, user, db string
		port                              int
		err                               string
	}{
		{in: "db.example", wantProto: MySQL, host: "db.example", port: 3306},
		{in: "db.example:3307", wantProto: MySQL, host: "db.example", port: 3307},
		{in: "198.51.100.10", wantProto: MySQL, host: "198.51.100.10", port: 3306},
		{in: "2001:db8::1", wantProto: MySQL, host: "2001:db8::1", port: 3306},
		{in: "[2001:db8::1]:3310", wantProto: MySQL, host: "2001:db8::1", port: 3310},
		{in: "db.example", proto: Postgres, wantProto: Postgres, host: "db.example", port: 5432},
		{in: "mysql://lab@db.example:3308/labdb", wantProto: MySQL, host: "db.example", port: 3308, user: "lab", db: "labdb"},
		{in: "mariadb://db.example", wantProto: MySQL, host: "db.example", port: 3306},
		{in: "postgres://lab@[2001:db8::1]/labdb", wantProto: Postgres, host: "2001:db8::1", port: 5432, user: "lab", db: "labdb"},
		{in: "postgresql://h:5433", wantProto: Postgres, host: "h", port: 5433},
		{in: "/run/mysqld/mysqld.sock", wantProto: MySQL, socket: "/run/mysqld/mysqld.sock", port: 3306},
		{in: "./x.sock", wantProto: MySQL, socket: "./x.sock", port: 3306},
		{in: "/tmp/.s.PGSQL.5433", proto: Postgres, wantProto: Postgres, socket: "/tmp/.s.PGSQL.5433", port: 5433},
		{in: "mysql:///run/mysqld/mysqld.sock", wantProto: MySQL, socket: "/run/mysqld/mysqld.sock", port: 3306},
		{in: "", err: "empty target"},
		{in: "h:0", err: "port \"0\""},
		{in: "h:70000", err: "port \"70000\""},
		{in: "h:x", err: "port \"x\""},
		{in: "[2001:db8::1", err: "missing ]"},
		{in: "mysql://lab:secret@h", err: "password in the URL is refused"},
		{in: "redis://h", err: "unknown scheme"},
		{in: "lab@h", err: "a user goes in a URL"},
		{in: "bad name!", err: "neither an address nor a host name"},
		{in: "h", proto: "oracle", err: "unknown protocol"},
		{in: "mysql://h?tls=true", err: "URL parameters"},
		{in: "1:2:3", err: "not an IPv6 address"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in, tc.proto)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTarget(%q) error = %v, want one containing %q", tc.in, err, tc.err)
				}
				if strings.Contains(tc.in, "secret") && strings.Contains(err.Error(), "secret") {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tc.in, err)
			}
			if got.Protocol != tc.wantProto || got.Host != tc.host || got.Socket != tc.socket || got.Port != tc.port || got.User != tc.user || got.Database != tc.db {
				t.Fatalf("ParseTarget(%q) = %+v", tc.in, got)
			}
		})
	}
}
