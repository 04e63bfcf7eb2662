package capture

import (
	"errors"
	"io"
)

// input is a read buffer that knows the (decompressed) file offset of every
// byte it hands out. The record parsers peek at whole records and then
// consume them, so a record's offset is simply off before the consume, and
// frame data is a slice of the buffer: no copy, no allocation per packet.
//
// The reads stay on the goroutine that decodes (the engine's, offline),
// straight into buf (bufio passes reads this large through): measured on a
// 2-CPU VM with analyze.BenchmarkEngineReadCaptureRecycle, a goroutine that
// read ahead into 256 KiB chunks handed over whole was 3-10% slower (the
// frames then come from the other core's cache, and the reader waits for
// a core the renderer holds), 64 KiB chunks 20% slower, and an mmap of the
// file 3-6% slower (page faults, and no L2-resident buffer).
//
// pcapgo's readers were not used for this because they hide the offsets
// behind their own bufio.Reader and skip non-packet pcapng blocks
// internally, so neither a record's offset nor the point where a damaged file
// stops could be reported exactly.
type input struct {
	r          io.Reader
	buf        []byte
	start, end int   // buf[start:end] is read but not consumed
	off        int64 // file offset of buf[start]
	err        error // sticky error from r (io.EOF at the end)
	zeroReads  int   // consecutive (0, nil) reads, to stop a reader that never progresses
}

const (
	inputBufSize = 256 << 10
	// maxRecord bounds any single record or block the parsers will buffer
	// (libpcap's limit for pcapng blocks is 16 MiB too). The buffer grows
	// only as data actually arrives, so a hostile length in a tiny file
	// cannot make the reader allocate it.
	maxRecord = 16 << 20
)

func newInput(r io.Reader) *input {
	return &input{r: r, buf: make([]byte, inputBufSize)}
}

// peek returns the next n bytes without consuming them. With fewer bytes left
// in the stream it returns what there is and io.EOF (nothing left) or
// io.ErrUnexpectedEOF (something left), or the underlying read error.
// The slice is valid until the next peek or skip.
//
// Nearly every record is buffered already: peek answers it at once, and
// only a record that must be read first goes through fill's loop.
func (in *input) peek(n int) ([]byte, error) {
	if b := in.buf[in.start:in.end]; len(b) >= n {
		return b[:n], nil
	}
	return in.fill(n)
}

// fill is peek for n bytes not all buffered yet: it reads until they are,
// or the stream ends or fails.
func (in *input) fill(n int) ([]byte, error) {
	for in.end-in.start < n {
		if in.err != nil {
			b := in.buf[in.start:in.end]
			if in.err == io.EOF {
				if len(b) == 0 {
					return b, io.EOF
				}
				return b, io.ErrUnexpectedEOF
			}
			return b, in.err
		}
		if in.end == len(in.buf) {
			in.makeRoom(n)
		}
		m, err := in.r.Read(in.buf[in.end:])
		if m < 0 || m > len(in.buf)-in.end {
			m, err = 0, errors.New("invalid read count from the underlying reader")
		}
		in.end += m
		if err != nil {
			in.err = err
		} else if m == 0 {
			in.zeroReads++
			if in.zeroReads > 100 {
				in.err = io.ErrNoProgress
			}
		} else {
			in.zeroReads = 0
		}
	}
	return in.buf[in.start : in.start+n], nil
}

// makeRoom moves the unconsumed bytes to the front of the buffer, or grows it
// (at most doubling, so growth follows the data actually read) when a record
// of n bytes does not fit.
func (in *input) makeRoom(n int) {
	avail := in.end - in.start
	if in.start > 0 && n <= len(in.buf) {
		copy(in.buf, in.buf[in.start:in.end])
		in.start, in.end = 0, avail
		return
	}
	size := 2 * len(in.buf)
	if size < avail+inputBufSize/4 {
		size = avail + inputBufSize/4
	}
	nb := make([]byte, size)
	copy(nb, in.buf[in.start:in.end])
	in.buf = nb
	in.start, in.end = 0, avail
}

// consume marks n peeked bytes as read.
func (in *input) consume(n int) {
	in.start += n
	in.off += int64(n)
}

// skip consumes n bytes without buffering them all (unknown pcapng blocks).
func (in *input) skip(n int) error {
	for n > 0 {
		chunk := n
		if chunk > inputBufSize {
			chunk = inputBufSize
		}
		b, err := in.peek(chunk)
		if err != nil {
			in.consume(len(b))
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		in.consume(chunk)
		n -= chunk
	}
	return nil
}
