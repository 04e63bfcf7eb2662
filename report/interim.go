package report

import (
	"fmt"
	"time"
)

// jsonInterval heads the pattern, group and timeseries records of an
// interim rollup (trace --interval): they cover the connects so far.
type jsonInterval struct {
	Kind     string    `json:"kind"` // "interval"
	Time     time.Time `json:"time"`
	Connects int       `json:"connects"`
}

// Interim prints, in the middle of a streamed run (trace --interval), the
// patterns, rollup and time view of every connect so far, headed by the
// time and the number of connects; JSON writes an "interval" record, then
// the pattern, group and timeseries records as at the end. It prints
// nothing when no connect completed since the last interim, in the line
// format (it has no rollup) or without Options.Rollup. The final rollup
// still comes with the summary.
func (w *Writer) Interim(now time.Time) error {
	if w.err != nil || w.rv == nil || w.opt.Format == Line || w.number == 0 || w.number == w.interimAt {
		return w.err
	}
	w.interimAt = w.number
	w.r.flush(w)
	d := w.rollupData(w.rv)
	at := now.UTC().Format("15:04:05")
	switch w.opt.Format {
	case JSON:
		w.writeJSONRecord(jsonInterval{Kind: "interval", Time: now.UTC(), Connects: w.number})
		w.rollupJSON(d)
	case Markdown:
		w.writeString(fmt.Sprintf("### Rollup at %s UTC: %d connects so far\n\n", at, w.number))
		w.writeString(w.rollupText(d))
	default:
		w.writeString(fmt.Sprintf("Rollup at %s UTC: %d connects so far\n\n", at, w.number))
		w.writeString(w.rollupText(d))
	}
	w.flush()
	return w.err
}
