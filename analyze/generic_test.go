package analyze

import (
	"go/scanner"
	"go/token"
	"os"
	"regexp"
	"testing"
)

// TestGenericTCPNamesNoProtocol: the generic TCP files name no
// application protocol in their code (identifiers and string literals;
// comments may give examples): protocols plug in through package proto
// and protocols.go. What legitimately remains is listed, with why.
func TestGenericTCPNamesNoProtocol(t *testing.T) {
	protoName := regexp.MustCompile(`(?i)mysql|mariadb|postgres|pgsql`)
	allowed := map[string]string{
		"engine.go MySQLPorts": "Options.MySQLPorts (--mysql-port) stays for compatibility; protocols.go maps it onto the MySQL protocol's ports",
	}
	for _, name := range []string{"attempt.go", "group.go", "causes.go", "kernel.go", "engine.go", "stream.go", "icmp.go", "loss.go", "timing.go", "dnstrack.go", "flow.go"} {
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
