package analyze

import (
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGenericTCPNamesNoProtocol: the generic files (analyze's but the
// registration, protocols.go, report's, and live's scrubber) name no
// application protocol
// in their code (identifiers and string literals; comments may give
// examples): protocols plug in through package proto and protocols.go.
// What legitimately remains is listed, with why.
func TestGenericTCPNamesNoProtocol(t *testing.T) {
	protoName := regexp.MustCompile(`(?i)mysql|mariadb|postgres|pgsql`)
	allowed := map[string]string{
		"engine.go MySQLPorts": "Options.MySQLPorts (--mysql-port) stays for compatibility; protocols.go maps it onto the MySQL protocol's ports",
		// The event-kind vocabulary lists every kind a timeline may hold,
		// the protocols' too (sessions emit them by their string).
		"model.go EvMySQLErr":  "event-kind vocabulary",
		"model.go EvMySQLOK":   "event-kind vocabulary",
		`model.go "mysql_err"`: "event-kind vocabulary",
		`model.go "mysql_ok"`:  "event-kind vocabulary",
		`reason.go "the server spoke first with something no registered protocol recognised (e.g. not a MySQL greeting) and the client never answered before the connection closed"`: "an example in a reason's meaning",
		// Whole files.
		"../report/redact_cmdline.go": "command-line redaction (run -- CMD) knows which flags of which client programs (mysql, psql, ...) carry users, hosts and databases: client knowledge, not yet contributed by the protocols",
	}
	// Every file of analyze but the registration, and the report's.
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	report, err := filepath.Glob("../report/*.go")
	if err != nil {
		t.Fatal(err)
	}
	names = append(names, report...)
	names = append(names, "../live/scrub.go") // what -w recordings keep: the protocols' Scrub rules
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") || name == "protocols.go" {
			continue
		}
		if why, ok := allowed[name]; ok && why != "" {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		var s scanner.Scanner
		s.Init(fset.AddFile(name, -1, len(src)), src, nil, 0)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if (tok != token.IDENT && tok != token.STRING) || !protoName.MatchString(lit) {
				continue
			}
			if _, ok := allowed[name+" "+lit]; ok {
				continue
			}
			t.Errorf("%s: %s names a protocol: move it behind the protocol's plug-in (package proto)", fset.Position(pos), lit)
		}
	}
}
