package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/connscope/connscope/analyze"
)

// The Markdown format is GitHub-flavoured Markdown for tickets: the attempts
// as a Markdown table, each failed connect under a heading with its timeline
// in a code fence and its evidence and causes as lists.
type markdownStyle struct {
	all bool // every connect's timeline, ok ones too (Options.AllTimelines)
}

func (markdownStyle) heading(source string) string { return "## " + mdEscape(source) + "\n\n" }

// safeCell escapes a cell (appendMDEscaped).
func (markdownStyle) safeCell(b []byte, from int) []byte { return mdEscapeFrom(b, from) }

func (markdownStyle) failedHeading() string { return "### Failed connects\n\n" }

// mdEscape keeps text from breaking Markdown tables and markup: | is
// escaped, a newline becomes a space, < and > entities.
func mdEscape(s string) string {
	if mdSafe(s) {
		return s
	}
	return string(appendMDEscaped(nil, s))
}

// mdSafe says whether s needs no escaping.
func mdSafe[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '|', '\n', '<', '>':
			return false
		}
	}
	return true
}

// appendMDEscaped appends s escaped (mdEscape): the runs between the
// bytes to escape are appended whole (evidence and causes are long, and
// mostly have none).
func appendMDEscaped[T string | []byte](b []byte, s T) []byte {
	from := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '|':
			esc = `\|`
		case '\n':
			esc = " "
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		default:
			continue
		}
		b = append(append(b, s[from:i]...), esc...)
		from = i + 1
	}
	return append(b, s[from:]...)
}

// mdEscapeFrom escapes b[from:] in place (mdEscape): text appended to b
// before it was known to need it.
func mdEscapeFrom(b []byte, from int) []byte {
	if mdSafe(b[from:]) {
		return b
	}
	raw := append([]byte(nil), b[from:]...)
	return appendMDEscaped(b[:from], raw)
}

// appendTable draws a Markdown table with its columns padded to line up in
// the source text (the look tablewriter's Markdown renderer had).
func (markdownStyle) appendTable(b []byte, t *textTable, legend []string) []byte {
	row := func(b []byte, r int) []byte {
		b = append(b, '|')
		for i, w := range t.widths {
			if !t.shown[i] {
				continue
			}
			cell, cw := t.cell(r, i)
			b = append(appendPadded(append(b, ' '), cell, cw, w), " |"...)
		}
		return append(b, '\n')
	}
	b = row(b, 0)
	b = append(b, '|')
	for i, w := range t.widths {
		if t.shown[i] {
			b = append(appendRepeat(append(b, ':'), dashRun, 1, w+1), '|')
		}
	}
	b = append(b, '\n')
	for r := 1; r <= t.rows(); r++ {
		b = row(b, r)
	}
	if len(legend) > 0 {
		b = append(appendMDEscaped(append(b, "\n_"...), strings.Join(legend, "; ")), "._\n"...)
	}
	return b
}

func (s markdownStyle) appendBlock(b []byte, k *blockScratch, n int, c *analyze.Connect, words []analyze.AttemptWords, table []byte) []byte {
	b = strconv.AppendInt(append(b, "#### Connect "...), int64(n), 10)
	b = append(append(append(b, ": "...), c.Outcome...), "\n\n"...)
	detail := len(b)
	b = mdEscapeFrom(appendHeadline(b, c), detail)
	if meaning := connectMeaning(c); meaning != "" && failed(c) {
		b = append(append(append(b, " — "...), meaning...), '.')
	}
	b = append(b, "\n\n"...)
	if len(table) > 0 {
		b = append(append(b, table...), '\n')
	}
	if !failed(c) && !s.all {
		return b
	}
	b = append(b, "```text\n"...)
	b = k.appendTimeline(b, n, c, "")
	b = append(b, "```\n\n"...)
	if resolver := resolverLine(c.Resolver); resolver != "" {
		b = append(appendMDEscaped(append(b, "Resolver: "...), resolver), "\n\n"...)
	}
	if groups := k.evidenceGroups(c, words); len(groups) > 0 {
		b = append(b, "**Evidence**\n\n"...)
		for _, g := range groups {
			item := "- "
			if len(groups) > 1 {
				b = append(appendGroupLabel(append(b, "- "...), n, c, g), ":\n"...)
				item = "  - "
			}
			for _, e := range g.items {
				b = append(appendMDEscaped(append(b, item...), e), '\n')
			}
		}
		b = append(b, '\n')
	}
	if causes := k.connectCauses(c, words); len(causes) > 0 {
		b = append(b, "**Likely causes (check these)**\n\n"...)
		for _, s := range causes {
			b = append(appendMDEscaped(append(b, "- "...), s), '\n')
		}
		b = append(b, '\n')
	}
	return b
}

func (markdownStyle) summary(partial string, lines [][2]string) string {
	var b strings.Builder
	if partial != "" {
		fmt.Fprintf(&b, "### Summary — %s\n\n| | |\n|:--|:--|\n", mdEscape(partial))
	} else {
		b.WriteString("### Summary\n\n| | |\n|:--|:--|\n")
	}
	for _, l := range lines {
		fmt.Fprintf(&b, "| %s | %s |\n", l[0], mdEscape(l[1]))
	}
	return b.String()
}
