package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// NFTRule is a rule of the ruleset that matches the port.
type NFTRule struct {
	Family, Table, Chain string
	Hook                 string // the base chain's hook, "" for a regular chain (jumped to)
	Handle               int
	Verdict              string // accept, drop, reject, jump X, … ("" when the rule only counts or logs)
	Text                 string // the rule, shortly
}

// NFTChainPolicy is a base chain whose policy is not accept.
type NFTChainPolicy struct {
	Family, Table, Chain, Hook, Policy string
}

func runNFT(ctx context.Context) ([]byte, error) {
	path, err := exec.LookPath("nft")
	if err != nil {
		return nil, fmt.Errorf("nft is not installed (Debian package nftables): firewall rules not read")
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, path, "-j", "list", "ruleset")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(ee.Stderr)), "\n", "; ")), " ")
		}
		return nil, fmt.Errorf("nft -j list ruleset: %s", msg)
	}
	return out, nil
}

type nftDoc struct {
	Nftables []map[string]json.RawMessage `json:"nftables"`
}

type nftChain struct {
	Family, Table, Name, Hook, Policy, Type string
}

type nftRuleJSON struct {
	Family string            `json:"family"`
	Table  string            `json:"table"`
	Chain  string            `json:"chain"`
	Handle int               `json:"handle"`
	Expr   []json.RawMessage `json:"expr"`
}

// MatchNFT finds the rules of an `nft -j list ruleset` output that match
// TCP destination port port (tcp dport / th dport, as a value, set, range or
// in an anonymous set), and the base chains whose policy is not accept.
func MatchNFT(data []byte, port int) ([]NFTRule, []NFTChainPolicy, error) {
	var doc nftDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("nft's JSON output: %v", err)
	}
	chains := map[string]nftChain{}
	var rules []NFTRule
	var policies []NFTChainPolicy
	for _, obj := range doc.Nftables {
		if raw, ok := obj["chain"]; ok {
			var c nftChain
			if json.Unmarshal(raw, &c) == nil {
				chains[c.Family+"/"+c.Table+"/"+c.Name] = c
				if c.Hook != "" && c.Policy != "" && c.Policy != "accept" {
					policies = append(policies, NFTChainPolicy{c.Family, c.Table, c.Name, c.Hook, c.Policy})
				}
			}
		}
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var r nftRuleJSON
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		matched := false
		verdict := ""
		var parts []string
		for _, e := range r.Expr {
			var m map[string]json.RawMessage
			if json.Unmarshal(e, &m) != nil {
				continue
			}
			for k, v := range m {
				switch k {
				case "match":
					txt, isPort, hit := nftMatch(v, port)
					parts = append(parts, txt)
					if isPort && hit {
						matched = true
					}
					if isPort && !hit {
						// A port match that excludes this port: the
						// rule cannot apply.
						matched = false
						goto next
					}
				case "accept", "drop", "return", "continue":
					verdict = k
					parts = append(parts, k)
				case "reject":
					verdict = "reject"
					parts = append(parts, "reject"+nftRejectText(v))
				case "jump", "goto":
					var t struct{ Target string }
					json.Unmarshal(v, &t)
					verdict = k + " " + t.Target
					parts = append(parts, verdict)
				case "counter", "log", "limit":
					parts = append(parts, k)
				default:
					parts = append(parts, k)
				}
			}
		}
		if matched {
			c := chains[r.Family+"/"+r.Table+"/"+r.Chain]
			rules = append(rules, NFTRule{Family: r.Family, Table: r.Table, Chain: r.Chain, Hook: c.Hook, Handle: r.Handle, Verdict: verdict, Text: strings.Join(parts, " ")})
		}
	next:
	}
	return rules, policies, nil
}

// nftMatch renders a match expression, says whether it is on the TCP
// destination port, and whether port satisfies it.
func nftMatch(raw json.RawMessage, port int) (text string, isPort, hit bool) {
	var m struct {
		Op    string          `json:"op"`
		Left  json.RawMessage `json:"left"`
		Right json.RawMessage `json:"right"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return "?", false, false
	}
	var left struct {
		Payload *struct{ Protocol, Field string } `json:"payload"`
		Meta    *struct{ Key string }             `json:"meta"`
		CT      *struct{ Key string }             `json:"ct"`
	}
	json.Unmarshal(m.Left, &left)
	lt := "?"
	if left.Payload != nil {
		lt = left.Payload.Protocol + " " + left.Payload.Field
		if left.Payload.Field == "dport" && (left.Payload.Protocol == "tcp" || left.Payload.Protocol == "th") {
			isPort = true
		}
	} else if left.Meta != nil {
		lt = "meta " + left.Meta.Key
	} else if left.CT != nil {
		lt = "ct " + left.CT.Key
	}
	rt, vals := nftValues(m.Right)
	op := m.Op
	if op == "" || op == "in" {
		op = "=="
	}
	text = lt + " " + rt
	if op != "==" {
		text = lt + " " + op + " " + rt
	}
	if !isPort {
		return text, false, false
	}
	in := false
	for _, v := range vals {
		if port >= v[0] && port <= v[1] {
			in = true
		}
	}
	if op == "!=" {
		in = !in
	}
	return text, true, in
}

// nftValues reads a right-hand side: a number, a string (named port or
// named set), a set of those, or a range.
func nftValues(raw json.RawMessage) (string, [][2]int) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return fmt.Sprint(n), [][2]int{{n, n}}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		Set    []json.RawMessage `json:"set"`
		Range  []json.RawMessage `json:"range"`
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return string(raw), nil
	}
	if obj.Prefix != nil {
		return fmt.Sprintf("%s/%d", obj.Prefix.Addr, obj.Prefix.Len), nil
	}
	if obj.Range != nil && len(obj.Range) == 2 {
		var a, b int
		json.Unmarshal(obj.Range[0], &a)
		json.Unmarshal(obj.Range[1], &b)
		return fmt.Sprintf("%d-%d", a, b), [][2]int{{a, b}}
	}
	if obj.Set != nil {
		var texts []string
		var vals [][2]int
		for _, e := range obj.Set {
			t, v := nftValues(e)
			texts = append(texts, t)
			vals = append(vals, v...)
		}
		return "{ " + strings.Join(texts, ", ") + " }", vals
	}
	return string(raw), nil
}

func nftRejectText(raw json.RawMessage) string {
	var r struct {
		Type string `json:"type"`
		Expr string `json:"expr"`
	}
	if json.Unmarshal(raw, &r) != nil || (r.Type == "" && r.Expr == "") {
		return ""
	}
	if r.Type == "tcp reset" {
		return " with tcp reset"
	}
	return " with " + r.Type + " " + r.Expr
}
