package logfile

import (
	"bufio"
	"errors"
	"io"
)

// BufferSize is the longest piece of a line one entry holds; a longer line
// is written as P entries and a final F (containerd's CRI uses 16 KiB too).
const BufferSize = 16 << 10

// Copy writes the lines read from r as entries of stream to w until r ends.
// A last line without a newline is written as a whole line. It reads to the
// end even when writing fails (a full disk), so that the service never
// blocks on its output; it returns the first error.
func Copy(w *Writer, stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, BufferSize)
	var first error
	write := func(partial bool, text []byte) {
		if err := w.Write(stream, partial, text); err != nil && first == nil {
			first = err
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			write(false, line[:len(line)-1])
		case errors.Is(err, bufio.ErrBufferFull):
			write(true, line)
		default:
			if len(line) > 0 {
				write(false, line)
			}
			if err != io.EOF && first == nil {
				first = err
			}
			return first
		}
	}
}
