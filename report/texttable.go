package report

import (
	"slices"
	"unicode/utf8"

	"github.com/clipperhouse/displaywidth"
)

// textTable is a table of the formats for people being filled, to be drawn
// by a textStyle (appendTable): its header and rows, every cell's text one
// after another in one buffer, each cell's width in terminal columns
// measured once as it is added, and per column the widest cell and whether
// any row (not the header) has something in it other than "" or "-". The
// rows are added as they come, the table drawn at the end; reset keeps the
// memory for the next table (a connect's in a live trace, the next batch
// offline), so that a table costs no allocation once they are grown.
type textTable struct {
	text   []byte
	cells  []tableCell // len(widths) per row, the header first
	widths []int       // the widest cell of each column
	filled []bool      // a row has a cell in this column other than "" and "-"
	shown  []bool      // the columns drawn (showAll, showFilled)
	header []string    // a copy of the last reset's header
}

// tableCell is a cell of a textTable: its text is text[start:end] where
// start is the end of the cell before it (0 for the first).
type tableCell struct {
	end   int
	width int
}

// reset empties t and starts it with header (one column per name). The
// same header as the last reset's (a live trace's table per connect)
// keeps its cells, measured once.
func (t *textTable) reset(header []string) {
	if n := len(header); n > 0 && slices.Equal(t.header, header) {
		t.text, t.cells = t.text[:t.cells[n-1].end], t.cells[:n]
		for i, c := range t.cells {
			t.widths[i] = c.width
		}
		clear(t.filled)
		return
	}
	t.header = append(t.header[:0], header...)
	t.text, t.cells = t.text[:0], t.cells[:0]
	t.widths = resize(t.widths, len(header))
	t.filled = resize(t.filled, len(header))
	t.shown = resize(t.shown, len(header))
	clear(t.widths)
	clear(t.filled)
	for _, h := range header {
		t.text = append(t.text, h...)
		t.endCell(nil)
	}
}

// resize is s with length n, its contents unspecified.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// rows is the number of rows below the header.
func (t *textTable) rows() int {
	if len(t.widths) == 0 {
		return 0
	}
	return len(t.cells)/len(t.widths) - 1
}

// addRow adds a row of cells as they are (already safe for the format):
// missing cells are empty, cells beyond the header's are left out.
func (t *textTable) addRow(cells []string) {
	for i := range t.widths {
		if i < len(cells) {
			t.text = append(t.text, cells[i]...)
		}
		t.endCell(nil)
	}
}

// endCell ends the cell whose text was appended to t.text since the last
// one ended, first made safe for style's format (style nil: it is).
func (t *textTable) endCell(style textStyle) {
	start := t.cellStart(len(t.cells))
	if style != nil {
		t.text = style.safeCell(t.text, start)
	}
	text := t.text[start:]
	col := len(t.cells) % len(t.widths)
	w := textWidth(text)
	t.widths[col] = max(t.widths[col], w)
	if len(t.cells) >= len(t.widths) && len(text) > 0 && string(text) != "-" {
		t.filled[col] = true
	}
	t.cells = append(t.cells, tableCell{end: len(t.text), width: w})
}

// cellStart is where cell i's text starts.
func (t *textTable) cellStart(i int) int {
	if i == 0 {
		return 0
	}
	return t.cells[i-1].end
}

// cell is the text of column col of row r (0: the header) and its width.
func (t *textTable) cell(r, col int) ([]byte, int) {
	i := r*len(t.widths) + col
	return t.text[t.cellStart(i):t.cells[i].end], t.cells[i].width
}

// showAll draws every column.
func (t *textTable) showAll() {
	for i := range t.shown {
		t.shown[i] = true
	}
}

// showFilled draws the columns that some row fills, and those always
// wants drawn whatever they hold.
func (t *textTable) showFilled(always func(col int) bool) {
	for i := range t.shown {
		t.shown[i] = t.filled[i] || always(i)
	}
}

// textWidth is the width of s in terminal columns.
func textWidth(s []byte) int {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return displaywidth.Bytes(s)
		}
	}
	return len(s)
}

// cellWidth is the width of s in terminal columns.
func cellWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return displaywidth.String(s)
		}
	}
	return len(s)
}

// appendPadded appends cell and then spaces up to width columns (cell
// is cellWidth columns wide).
func appendPadded(b, cell []byte, cellWidth, width int) []byte {
	return appendRepeat(append(b, cell...), spaceRun, 1, width-cellWidth)
}

// spaceRun, dashRun and ruleRun are runs of one piece to append parts of
// (appendRepeat): a table's padding and rules, without making a string
// per column.
var (
	spaceRun = "                                                                "
	dashRun  = "----------------------------------------------------------------"
	ruleRun  = "────────────────────────────────────────────────────────────────"
)

// appendRepeat appends n times the piece of size bytes that run repeats.
func appendRepeat(b []byte, run string, size, n int) []byte {
	for n > 0 {
		k := min(n, len(run)/size)
		b = append(b, run[:k*size]...)
		n -= k
	}
	return b
}

// drawTable draws a table of strings (cells already safe for the format),
// every column shown: the rollup's tables.
func drawTable(style textStyle, header []string, rows [][]string, legend []string) string {
	var t textTable
	t.reset(header)
	for _, r := range rows {
		t.addRow(r)
	}
	t.showAll()
	return string(style.appendTable(nil, &t, legend))
}
