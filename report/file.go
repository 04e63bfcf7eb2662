package report

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// CreateFile creates (or truncates) a file connscope writes a report or a
// capture to (-o, -w), readable by its owner only: a new file gets mode
// 0600, an existing regular file is set to 0600. A symbolic link at path is
// refused, not followed (O_NOFOLLOW), so that a link planted in a shared
// directory cannot make connscope, often run as root, write elsewhere.
// Devices and FIFOs (/dev/null, a named pipe) are written to as they are.
func CreateFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link: refusing to write through it (name the file it points to, or remove the link)", path)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Mode().IsRegular() && st.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: making it readable by its owner only: %w", path, err)
		}
	}
	return f, nil
}
