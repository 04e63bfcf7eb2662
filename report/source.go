package report

import (
	"fmt"
	"strings"
)

// SetCommand names the traced command as the source of the following
// connects (run -- CMD): argv as run, passwords already masked. Table and
// Markdown print it as a heading, JSON as each connect's "source"; with
// Redact its hosts, users, databases and addresses are pseudonymised (see
// Redactor.CommandLine).
func (w *Writer) SetCommand(argv []string) error {
	w.command = append([]string(nil), argv...)
	return w.SetSource(QuoteArgs(argv))
}

// learnSource gives a file name its pseudonym as soon as it is named, so
// that an error quoting it is redacted even before a connect is printed.
func (w *Writer) learnSource(name string) {
	if w.red != nil && (w.command == nil || name != QuoteArgs(w.command)) {
		w.red.Source(name)
	}
}

// SetSources makes a set of captures read as one merged stream the current
// source: its heading (SetHeading) names them all, each as its pseudonym
// under Redact.
func (w *Writer) SetSources(names []string) error {
	for _, n := range names {
		w.learnSource(n)
	}
	w.set = append([]string(nil), names...)
	return w.SetSource(SetHeading(names))
}

// SetHeading is the source heading of captures merged into one stream:
// up to three named, more as the first and last name and their number.
func SetHeading(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, " + ") + " (merged by time)"
	}
	return fmt.Sprintf("%s + … + %s (%d files merged by time)", names[0], names[len(names)-1], len(names))
}

// shownSource is the source as printed: redacted when the Writer redacts
// (a command line, or a file name as capture-N). It is computed when
// printed, so that a command line is redacted with every name learned by
// then.
func (w *Writer) shownSource() string {
	switch {
	case w.red == nil:
		return w.source
	case w.set != nil && w.source == SetHeading(w.set):
		shown := make([]string, len(w.set))
		for i, n := range w.set {
			shown[i] = w.red.Source(n)
		}
		return SetHeading(shown)
	case w.command != nil && w.source == QuoteArgs(w.command):
		return QuoteArgs(w.red.CommandLine(w.command))
	}
	return w.red.Source(w.source)
}

// RedactText redacts a line printed next to the report (a notice, an
// error) with the report's pseudonyms; without Redact it returns s.
func (w *Writer) RedactText(s string) string {
	if w.red == nil {
		return s
	}
	return w.red.Text(s)
}

// RedactCommand redacts a command line with the report's pseudonyms, as the
// source heading shows it; without Redact it returns argv.
func (w *Writer) RedactCommand(argv []string) []string {
	if w.red == nil {
		return argv
	}
	return w.red.CommandLine(argv)
}
