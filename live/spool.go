package live

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds a report while the traced command runs (its stdout and stderr
// must not be interleaved with ours) and copies it out when it exits. The
// first spoolMemory bytes stay in memory; beyond that it spills into an
// unlinked temporary file, so a long-running command cannot exhaust memory.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	err  error
}

const spoolMemory = 4 << 20

func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil && s.mem.Len()+len(p) <= spoolMemory {
		return s.mem.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "connscope-report-*")
		if err != nil {
			s.err = fmt.Errorf("the report outgrew %d MiB of memory and no temporary file could hold the rest: %w", spoolMemory>>20, err)
			return 0, s.err
		}
		os.Remove(f.Name()) // gone when closed, whatever happens
		s.file = f
		if _, err := s.file.Write(s.mem.Bytes()); err != nil {
			s.err = fmt.Errorf("spooling the report to %s: %w", f.Name(), err)
			return 0, s.err
		}
		s.mem = bytes.Buffer{}
	}
	n, err := s.file.Write(p)
	if err != nil {
		s.err = fmt.Errorf("spooling the report: %w", err)
	}
	return n, s.err
}

// copyTo writes everything spooled to w and releases the spool.
func (s *spool) copyTo(w io.Writer) error {
	if s.file == nil {
		_, err := w.Write(s.mem.Bytes())
		s.mem = bytes.Buffer{}
		return err
	}
	defer s.file.Close()
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading the spooled report back: %w", err)
	}
	_, err := io.Copy(w, s.file)
	return err
}
