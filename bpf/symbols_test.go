package bpf

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// refLoadSymbols is loadSymbols as it was before it parsed in place: a
// string and a struct per symbol, sorted stably by address.
func refLoadSymbols(path string) *symTable {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	type sym struct {
		addr uint64
		name string
	}
	var syms []sym
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || len(line) < sp+4 || (line[sp+1] != 't' && line[sp+1] != 'T') || line[sp+2] != ' ' {
			continue
		}
		a, err := strconv.ParseUint(string(line[:sp]), 16, 64)
		if err != nil || a == 0 {
			continue
		}
		name := line[sp+3:]
		if tab := bytes.IndexByte(name, '\t'); tab >= 0 {
			name = name[:tab]
		}
		syms = append(syms, sym{a, string(name)})
	}
	if len(syms) == 0 {
		return nil
	}
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	t := &symTable{addrs: make([]uint64, len(syms)), ends: make([]uint32, len(syms))}
	var b strings.Builder
	for i, s := range syms {
		t.addrs[i] = s.addr
		b.WriteString(s.name)
		t.ends[i] = uint32(b.Len())
	}
	t.names = b.String()
	return t
}

// TestLoadSymbolsAsBefore: the table loadSymbols builds is the one the
// old parser built, from this kernel's kallsyms and from made-up ones:
// out of address order (symbols at one address kept in the order listed),
// module suffixes, upper-case and overlong hex, lines that are not text
// symbols, enough names to grow the buffers many times.
func TestLoadSymbolsAsBefore(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 27))
	var lines []string
	for i := range 200_000 {
		addr := 0xffffffff81000000 + uint64(rng.IntN(1<<24))
		if i%3 == 0 {
			addr = 0xffffffff81000000 + uint64(i)*64 // runs in order
		}
		kind := []string{"T", "t", "t", "D", "r", "W"}[rng.IntN(6)]
		name := fmt.Sprintf("sym_%d_%s", i, strings.Repeat("x", rng.IntN(40)))
		line := fmt.Sprintf("%016x %s %s", addr, kind, name)
		switch rng.IntN(40) {
		case 0:
			line += "\t[mod_" + strconv.Itoa(i%7) + "]"
		case 1:
			line = strings.ToUpper(line[:16]) + line[16:]
		case 2:
			line = "1" + line // 17 hex digits
		case 3:
			line = "0000000000000000 T hidden_" + strconv.Itoa(i)
		case 4:
			line = "ffffffff8100zz00 T bad_" + strconv.Itoa(i)
		case 5:
			line = fmt.Sprintf("%016x T", addr) // no name
		case 6:
			line = fmt.Sprintf("%016x T same_addr_%d", uint64(0xffffffff81234560), i)
		}
		lines = append(lines, line)
	}
	path := t.TempDir() + "/kallsyms"
	paths := []string{path, "/proc/kallsyms"}
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	sorted := t.TempDir() + "/sorted"
	slices.Sort(lines)
	os.WriteFile(sorted, []byte(strings.Join(lines, "\n")), 0o644) // no last newline
	paths = append(paths, sorted)
	for _, p := range paths {
		got, want := loadSymbols(p), refLoadSymbols(p)
		if want == nil {
			if got != nil {
				t.Errorf("%s: a table of %d symbols, want none", p, len(got.addrs))
			}
			continue
		}
		if got == nil {
			t.Fatalf("%s: no table, want %d symbols", p, len(want.addrs))
		}
		if !slices.Equal(got.addrs, want.addrs) || !slices.Equal(got.ends, want.ends) || got.names != want.names {
			t.Errorf("%s: the table differs from the old parser's (%d symbols, %d bytes of names; want %d, %d)",
				p, len(got.addrs), len(got.names), len(want.addrs), len(want.names))
		}
	}
}
