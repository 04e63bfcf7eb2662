package capture

import (
	"fmt"
	"io"
	"os"
)

// OpenThrough is Open with the file's bytes read through wrap (before any
// gzip decompression), e.g. to count how much of the file was read for a
// progress meter. Closing the Reader closes the file.
func OpenThrough(path string, wrap func(io.Reader) io.Reader) (*Reader, error) {
	if path == "-" {
		return newReader(wrap(os.Stdin), "stdin", nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	r, err := newReader(wrap(f), path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}
