package live

import "io"

// OpenOutput opens the report file named by -o, or returns def when path is
// "" (or "-" with a def). Every command's -o goes through it (analyze
// included), so how report files are created is decided in one place. The
// returned func closes the file.
func OpenOutput(path string, def io.Writer) (io.Writer, func(), error) {
	return openOutput(path, def)
}
