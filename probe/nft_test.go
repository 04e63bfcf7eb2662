package probe

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The fixtures are real `nft -j list ruleset` output (nft 1.0.6): the lab's
// firewall (lab/lab.sh make_firewall), and a ruleset made for this test in a
// scratch namespace (ranges, !=, a named-less set with an address match, a
// regular chain jumped to, th dport, drop policy).
func TestMatchNFT(t *testing.T) {
	tests := []struct {
		file     string
		port     int
		rules    []string // chain handle verdict: text
		policies []string
	}{
		{"nft-lab.json", 3311, []string{"input 3 drop: tcp dport { 3311, 5441 } drop"}, nil},
		{"nft-lab.json", 5441, []string{"input 3 drop: tcp dport { 3311, 5441 } drop"}, nil},
		// nft's JSON leaves out the meta nfproto match that reject with icmp implies.
		{"nft-lab.json", 3312, []string{"input 4 reject: tcp dport 3312 reject with icmp port-unreachable", "input 5 reject: tcp dport 3312 reject with icmpv6 port-unreachable"}, nil},
		{"nft-lab.json", 3313, []string{"input 6 reject: tcp dport 3313 reject with tcp reset"}, nil},
		{"nft-lab.json", 3306, nil, nil},
		{"nft-policy.json", 3306, []string{
			"in 5 accept: tcp dport 3300-3310 counter accept",
			"in 8 reject: ip saddr 10.0.0.0/8 tcp dport { 3306, 5432 } reject with tcp reset",
			"sub 10 drop: th dport 3306 log drop",
			"out 11 accept: tcp dport 3306 ct state new accept",
		}, []string{"in input drop"}},
		{"nft-policy.json", 22, []string{"in 4 accept: tcp dport 22 accept", "in 6 : tcp dport != 3306 counter"}, []string{"in input drop"}},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+strconv.Itoa(tc.port), func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			rules, pols, err := MatchNFT(data, tc.port)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rules {
				got = append(got, r.Chain+" "+strconv.Itoa(r.Handle)+" "+r.Verdict+": "+r.Text)
			}
			var gotPols []string
			for _, p := range pols {
				gotPols = append(gotPols, p.Chain+" "+p.Hook+" "+p.Policy)
			}
			if !reflect.DeepEqual(got, tc.rules) {
				t.Errorf("rules:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.rules, "\n  "))
			}
			if !reflect.DeepEqual(gotPols, tc.policies) {
				t.Errorf("policies %q, want %q", gotPols, tc.policies)
			}
		})
	}
	if _, _, err := MatchNFT([]byte("{not json"), 1); err == nil {
		t.Error("malformed JSON: no error")
	}
}

func TestUnixDiagName(t *testing.T) {
	tests := []struct{ in, want string }{
		// As netlink v1.3.1 returned it in the lab (padding and the next
		// attribute's bytes after the path).
		{"/tmp/connscope-lab/m1/mysqld.sock\x00\x00\x00\f\x00", "/tmp/connscope-lab/m1/mysqld.sock"},
		{"/run/x.sock", "/run/x.sock"},
		{"\x00abstract\x00\x00", "@abstract"},
		{"\x00\x00", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := unixDiagName(tc.in); got != tc.want {
			t.Errorf("unixDiagName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
