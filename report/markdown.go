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

func (markdownStyle) cell(s string) string { return mdEscape(s) }

func (markdownStyle) failedHeading() string { return "### Failed connects\n\n" }

// mdEscape keeps text from breaking Markdown tables and markup.
func mdEscape(s string) string {
	return mdEscaper.Replace(s)
}

var mdEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")

// table draws a Markdown table with its columns padded to line up in the
// source text (the look tablewriter's Markdown renderer had).
func (markdownStyle) table(header []string, rows [][]string, legend []string) string {
	widths := columnWidths(header, rows)
	var b strings.Builder
	row := func(r []string) {
		b.WriteString("|")
		for i, w := range widths {
			cell := ""
			if i < len(r) {
				cell = r[i]
			}
			b.WriteByte(' ')
			padCell(&b, cell, w)
			b.WriteString(" |")
		}
		b.WriteByte('\n')
	}
	row(header)
	b.WriteString("|")
	for _, w := range widths {
		b.WriteString(":")
		b.WriteString(strings.Repeat("-", w+1))
		b.WriteString("|")
	}
	b.WriteByte('\n')
	for _, r := range rows {
		row(r)
	}
	if len(legend) > 0 {
		fmt.Fprintf(&b, "\n_%s._\n", mdEscape(strings.Join(legend, "; ")))
	}
	return b.String()
}

func (s markdownStyle) block(n int, c *analyze.Connect, table string) string {
	var b strings.Builder
	outcome, detail := headline(n, c)
	b.WriteString("#### Connect ")
	b.WriteString(strconv.Itoa(n))
	b.WriteString(": ")
	b.WriteString(outcome)
	b.WriteString("\n\n")
	b.WriteString(mdEscape(detail))
	if meaning := connectMeaning(c); meaning != "" && failed(c) {
		b.WriteString(" — ")
		b.WriteString(meaning)
		b.WriteString(".")
	}
	b.WriteString("\n\n")
	if table != "" {
		b.WriteString(table)
		b.WriteString("\n")
	}
	if !failed(c) && !s.all {
		return b.String()
	}
	b.WriteString("```text\n")
	writeTimeline(&b, timeline(n, c), "")
	b.WriteString("```\n\n")
	if resolver := resolverLine(c.Resolver); resolver != "" {
		fmt.Fprintf(&b, "Resolver: %s\n\n", mdEscape(resolver))
	}
	if groups := evidenceGroups(n, c); len(groups) > 0 {
		b.WriteString("**Evidence**\n\n")
		for _, g := range groups {
			if len(groups) > 1 {
				writeLine(&b, "- ", g.label, ":")
				for _, e := range g.items {
					writeLine(&b, "  - ", mdEscape(e))
				}
			} else {
				for _, e := range g.items {
					writeLine(&b, "- ", mdEscape(e))
				}
			}
		}
		b.WriteString("\n")
	}
	if causes := connectCauses(c); len(causes) > 0 {
		b.WriteString("**Likely causes (check these)**\n\n")
		for _, s := range causes {
			writeLine(&b, "- ", mdEscape(s))
		}
		b.WriteString("\n")
	}
	return b.String()
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
