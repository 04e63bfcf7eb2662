package probe

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Option is one setting from a MySQL/MariaDB option file.
type Option struct {
	File  string
	Line  int
	Group string // the [section], lower case
	Name  string // dashes made underscores, lower case
	Value string // unquoted, escapes applied
	Bare  bool   // a name without "=" (a boolean option)
}

// OptionFiles is what reading a set of option files found.
type OptionFiles struct {
	Read     []string // files read, in order (includes where they were included)
	Missing  []string // top-level files that do not exist (normal)
	Options  []Option
	Problems []string // unreadable files, include loops, malformed lines
}

// maxIncludeDepth bounds !include nesting (the servers stop at 10 too).
const maxIncludeDepth = 10

// ReadOptionFiles reads each file in order as mysqld and the clients do,
// following !include FILE and !includedir DIR (the *.cnf files in DIR, in
// name order as MariaDB reads them). A file that does not exist is noted in
// Missing for top-level files and as a problem for includes.
func ReadOptionFiles(files ...string) OptionFiles {
	var of OptionFiles
	seen := map[string]bool{}
	for _, f := range files {
		if _, err := os.Stat(f); os.IsNotExist(err) {
			of.Missing = append(of.Missing, f)
			continue
		}
		of.readFile(f, 0, seen)
	}
	return of
}

// Get returns the last value of name in any of groups (the last setting
// wins, as in the servers), and the option that set it.
func (of OptionFiles) Get(name string, groups ...string) (Option, bool) {
	name = normOptName(name)
	var out Option
	found := false
	for _, o := range of.Options {
		if o.Name != name {
			continue
		}
		for _, g := range groups {
			if o.Group == g {
				out, found = o, true
			}
		}
	}
	return out, found
}

// All returns every setting of name in groups, in reading order.
func (of OptionFiles) All(name string, groups ...string) []Option {
	name = normOptName(name)
	var out []Option
	for _, o := range of.Options {
		if o.Name != name {
			continue
		}
		for _, g := range groups {
			if o.Group == g {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

func normOptName(n string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(n), "-", "_"))
}

func (of *OptionFiles) readFile(path string, depth int, seen map[string]bool) {
	if depth > maxIncludeDepth {
		of.Problems = append(of.Problems, fmt.Sprintf("%s: includes nested deeper than %d: not read", path, maxIncludeDepth))
		return
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		path = abs
	}
	if seen[path] {
		of.Problems = append(of.Problems, fmt.Sprintf("%s: included again (an include loop): read once", path))
		return
	}
	seen[path] = true
	f, err := os.Open(path)
	if err != nil {
		of.Problems = append(of.Problems, fmt.Sprintf("cannot read %s: %v", path, err))
		return
	}
	defer f.Close()
	of.Read = append(of.Read, path)
	group := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '!' {
			dir, arg, _ := strings.Cut(line, " ")
			arg = strings.TrimSpace(arg)
			if t, ok := strings.CutPrefix(dir, "!"); ok && arg == "" {
				of.Problems = append(of.Problems, fmt.Sprintf("%s:%d: %s without a path", path, n, t))
				continue
			}
			switch dir {
			case "!include":
				of.readFile(arg, depth+1, seen)
			case "!includedir":
				ents, err := os.ReadDir(arg)
				if err != nil {
					of.Problems = append(of.Problems, fmt.Sprintf("%s:%d: !includedir %s: %v", path, n, arg, err))
					continue
				}
				var names []string
				for _, e := range ents {
					if !e.IsDir() && strings.HasSuffix(e.Name(), ".cnf") {
						names = append(names, e.Name())
					}
				}
				sort.Strings(names)
				for _, name := range names {
					of.readFile(filepath.Join(arg, name), depth+1, seen)
				}
			default:
				of.Problems = append(of.Problems, fmt.Sprintf("%s:%d: unknown directive %q", path, n, dir))
			}
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				of.Problems = append(of.Problems, fmt.Sprintf("%s:%d: section header without ]: %q", path, n, line))
				continue
			}
			group = strings.ToLower(strings.TrimSpace(line[1:end]))
			continue
		}
		if group == "" {
			of.Problems = append(of.Problems, fmt.Sprintf("%s:%d: option outside any [section]: ignored, as the servers do", path, n))
			continue
		}
		name, val, hasEq := strings.Cut(line, "=")
		o := Option{File: path, Line: n, Group: group, Name: normOptName(name), Bare: !hasEq}
		if hasEq {
			v, err := unquoteOptValue(strings.TrimSpace(val))
			if err != nil {
				of.Problems = append(of.Problems, fmt.Sprintf("%s:%d: %v", path, n, err))
			}
			o.Value = v
		} else if i := strings.IndexByte(o.Name, '#'); i >= 0 {
			o.Name = strings.TrimSpace(o.Name[:i])
		}
		of.Options = append(of.Options, o)
	}
	if err := sc.Err(); err != nil {
		of.Problems = append(of.Problems, fmt.Sprintf("%s: read stopped at line %d: %v", path, n+1, err))
	}
}

// unquoteOptValue applies the option-file value rules: a value in single or
// double quotes ends at the closing quote (a # inside is kept); an unquoted
// value ends at a # comment; \n \t \r \b \s \\ \" \' are escapes.
func unquoteOptValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if q := v[0]; q == '\'' || q == '"' {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '\\' && i+1 < len(v):
				i++
				b.WriteString(optEscape(v[i]))
			case c == q:
				rest := strings.TrimSpace(v[i+1:])
				if rest != "" && rest[0] != '#' {
					return b.String(), fmt.Errorf("text after the closing quote: %q", rest)
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return b.String(), fmt.Errorf("value starts with %c but has no closing quote", q)
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '#':
			return strings.TrimSpace(b.String()), nil
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteString(optEscape(v[i]))
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String()), nil
}

func optEscape(c byte) string {
	switch c {
	case 'n':
		return "\n"
	case 't':
		return "\t"
	case 'r':
		return "\r"
	case 'b':
		return "\b"
	case 's':
		return " "
	case '\\', '"', '\'':
		return string(c)
	}
	// An unknown escape keeps the backslash (a Windows path, say).
	return "\\" + string(c)
}
