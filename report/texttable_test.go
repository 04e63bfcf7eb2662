package report

import (
	"slices"
	"strings"
	"testing"

	"github.com/clipperhouse/displaywidth"
)

// plainTable draws a table the plain way (a string per rule, a width per
// cell measured when it is padded), as the table and Markdown formats did
// before textTable: the reference its drawings must match.
func plainTable(markdown bool, header []string, rows [][]string, legend []string) string {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = displaywidth.String(h)
	}
	for _, r := range rows {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], displaywidth.String(c))
			}
		}
	}
	var b strings.Builder
	pad := func(s string, w int) { b.WriteString(s + strings.Repeat(" ", w-displaywidth.String(s))) }
	row := func(r []string) {
		if markdown {
			b.WriteString("|")
		}
		for i, w := range widths {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			if markdown {
				b.WriteString(" ")
				pad(cell, w)
				b.WriteString(" |")
			} else {
				b.WriteString("│ ")
				pad(cell, w)
				b.WriteString(" ")
			}
		}
		if !markdown {
			b.WriteString("│")
		}
		b.WriteString("\n")
	}
	rule := func(left, mid, right string) {
		parts := make([]string, len(widths))
		for i, w := range widths {
			parts[i] = strings.Repeat("─", w+2)
		}
		b.WriteString(left + strings.Join(parts, mid) + right + "\n")
	}
	if markdown {
		row(header)
		b.WriteString("|")
		for _, w := range widths {
			b.WriteString(":" + strings.Repeat("-", w+1) + "|")
		}
		b.WriteString("\n")
		for _, r := range rows {
			row(r)
		}
		if len(legend) > 0 {
			b.WriteString("\n_" + mdEscape(strings.Join(legend, "; ")) + "._\n")
		}
		return b.String()
	}
	rule("┌", "┬", "┐")
	row(header)
	rule("├", "┼", "┤")
	for _, r := range rows {
		row(r)
	}
	rule("└", "┴", "┘")
	if len(legend) > 0 {
		b.WriteString(strings.Join(legend, "; ") + ".\n")
	}
	return b.String()
}

// tableCases are tables drawn one after another in the same textTable, so
// that each starts from the memory of a wider or longer one: wide Unicode
// cells (CJK, emoji, combining marks), cells longer than the padding and
// rule runs, short rows, rows longer than the header, no rows at all.
var tableCases = []struct {
	name   string
	header []string
	rows   [][]string
	legend []string
}{
	{"wide", []string{"#", "Name", "Client"}, [][]string{
		{"1", "数据库.example", "10.0.0.1:40000"},
		{"2", "🐬 db", "[2001:db8::1]:40001"},
		{"3", "cafe\u0301", strings.Repeat("x", 150)},
	}, []string{"Name = where it went", "# = its number"}},
	{"narrow after wide", []string{"#", "N", "C"}, [][]string{{"1", "a", "b"}, {"2", "", "-"}}, nil},
	{"short and long rows", []string{"#", "Name", "Client", "Process"}, [][]string{
		{"1"}, {"2", "x", "y", "z", "beyond the header"}, {strings.Repeat("長", 40), "", "", ""},
	}, []string{"one"}},
	{"no rows", []string{"Outcome", "Count"}, nil, nil},
	{"long header", []string{strings.Repeat("─", 70), "h"}, [][]string{{"a", strings.Repeat(" ", 80)}}, nil},
}

// TestTextTableDrawsAsPlain: textTable, reused from table to table, draws
// each as the plain way does, in both formats, in order and in reverse
// (a table after a narrower one too); every line of a box-drawn table is
// as wide as the others.
func TestTextTableDrawsAsPlain(t *testing.T) {
	for _, markdown := range []bool{false, true} {
		var style textStyle = tableStyle{}
		if markdown {
			style = markdownStyle{}
		}
		var tab textTable
		var drawn []byte
		for pass := range 2 {
			for k := range tableCases {
				tc := tableCases[k]
				if pass == 1 {
					tc = tableCases[len(tableCases)-1-k]
				}
				tab.reset(tc.header)
				for _, r := range tc.rows {
					tab.addRow(r)
				}
				tab.showAll()
				drawn = style.appendTable(drawn[:0], &tab, tc.legend)
				want := plainTable(markdown, tc.header, tc.rows, tc.legend)
				if string(drawn) != want {
					t.Errorf("markdown %v, %s (pass %d):\ngot\n%s\nwant\n%s", markdown, tc.name, pass, drawn, want)
				}
				if tab.rows() != len(tc.rows) {
					t.Errorf("markdown %v, %s: rows() = %d, want %d", markdown, tc.name, tab.rows(), len(tc.rows))
				}
				if markdown {
					continue
				}
				lines := strings.Split(strings.TrimSuffix(string(drawn), "\n"), "\n")
				for _, l := range lines[:len(tc.rows)+4] { // not the legend
					if displaywidth.String(l) != displaywidth.String(lines[0]) {
						t.Errorf("%s: line %q is %d columns wide, the top rule %d", tc.name, l, displaywidth.String(l), displaywidth.String(lines[0]))
					}
				}
			}
		}
	}
}

// TestTextTableSameHeader: a table reset with the header of the one
// before (a live trace's table per connect) keeps the header's cells but
// none of the rows' widths, and sees a header changed in place.
func TestTextTableSameHeader(t *testing.T) {
	header := []string{"#", "Name", "Client"}
	var tab textTable
	for _, rows := range [][][]string{
		{{"1", "数据库.example", strings.Repeat("y", 90)}},
		{{"2", "a", "b"}},
		{{"3", "", ""}, {"4", "🐬", "-"}},
	} {
		tab.reset(header)
		for _, r := range rows {
			tab.addRow(r)
		}
		tab.showAll()
		if got, want := string(tableStyle{}.appendTable(nil, &tab, nil)), plainTable(false, header, rows, nil); got != want {
			t.Errorf("rows %q after another table of the same header:\ngot\n%s\nwant\n%s", rows, got, want)
		}
	}
	header[1] = "A longer name"
	tab.reset(header)
	tab.addRow([]string{"5", "b", "c"})
	tab.showAll()
	if got, want := string(tableStyle{}.appendTable(nil, &tab, nil)), plainTable(false, header, [][]string{{"5", "b", "c"}}, nil); got != want {
		t.Errorf("the header changed in place:\ngot\n%s\nwant\n%s", got, want)
	}
}

// TestTextTableShowFilled: a column is shown when a row (not the header)
// holds something other than "" or "-" in it, or when it is always shown;
// what an earlier table filled does not carry over.
func TestTextTableShowFilled(t *testing.T) {
	var tab textTable
	tab.reset([]string{"#", "Name", "Process", "Slow"})
	tab.addRow([]string{"1", "db", "mysql[7]", "client 1.2 s"})
	tab.showFilled(func(col int) bool { return col == 0 })
	if want := []bool{true, true, true, true}; !slices.Equal(tab.shown, want) {
		t.Errorf("a full row: shown %v, want %v", tab.shown, want)
	}
	tab.reset([]string{"#", "Name", "Process", "Slow"})
	tab.addRow([]string{"", "-", "", "x"})
	tab.addRow([]string{"", "", "-", ""})
	tab.showFilled(func(col int) bool { return col == 0 })
	if want := []bool{true, false, false, true}; !slices.Equal(tab.shown, want) {
		t.Errorf("after a full table, rows with only \"\" and \"-\": shown %v, want %v", tab.shown, want)
	}
}

// TestMarkdownEscapeAsReplacer: the Markdown escaping, of strings and of
// text already appended, is the strings.Replacer it replaced.
func TestMarkdownEscapeAsReplacer(t *testing.T) {
	ref := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")
	for _, s := range []string{"", "plain", "a|b", "<x>", "line\nbreak", "||<<>>\n\n", "数据|库 <é>", "-", strings.Repeat("|<", 100)} {
		want := ref.Replace(s)
		if got := mdEscape(s); got != want {
			t.Errorf("mdEscape(%q) = %q, want %q", s, got, want)
		}
		b := append([]byte("kept|"), s...)
		if got := string(mdEscapeFrom(b, len("kept|"))); got != "kept|"+want {
			t.Errorf("mdEscapeFrom(%q) = %q, want %q", s, got, "kept|"+want)
		}
	}
}
