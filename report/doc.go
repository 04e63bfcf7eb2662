// Package report turns analysis results (analyze.Connect, analyze.Summary)
// into text for people and machines: an aligned table for the terminal,
// GitHub-flavoured Markdown for tickets, JSON Lines for scripts and one line
// per connect for watching or grepping.
//
// Each format is a renderer in its own file (table.go, markdown.go,
// json.go, line.go), chosen once by NewWriter; shared pieces have theirs
// (blocks.go: what the table and Markdown formats print, in which order;
// texttable.go: their tables, filled and then drawn; timeline.go; eventwords.go: the words of each timeline step, made from
// its kind and facts; duration.go: durations are analyze.FormatMS
// everywhere). The Writer owns what they share: numbering, --failed, write
// errors, the timeline's words and then redaction, applied to a connect and
// the summary before any renderer sees them. The summary's counts are the engine's; the Writer adds only
// connect_outcomes (what it was given). testdata/format at the repository
// root holds the exact output of `connscope analyze` per format for real lab
// captures (go test ./cmd/connscope -run TestFormatGoldens -update).
//
// It has its own home because it is the one place that renders results, and
// three commands share it: `analyze` (offline files), `trace` (live, printing
// each connect as it completes) and `run` (a report when the command exits).
// Keeping rendering and redaction here means every command prints the same
// fields under the same names, and redaction (--redact) is applied in exactly
// one place, after analysis and before any byte is written.
//
// A Writer streams: Connect is called once per finished connect, in the order
// the engine completes them, and Summary once at the end. JSON lines and the
// per-connect blocks of streaming mode are written immediately; the offline
// table (one table of all attempts, then the timelines of failed connects)
// is buffered in bounded batches.
//
// The report never contains authentication data: the analysis model keeps no
// scrambles or passwords, and redaction replaces addresses, host names and
// MySQL user names with stable pseudonyms (ip4-1, ip6-1, name-1.example,
// user-1), also inside evidence, event text and server error messages.
package report
