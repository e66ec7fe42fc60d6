package supervise

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

const (
	readBufBytes     = 64 << 10
	maxLineBytes     = 1 << 20 // longer lines are cut
	maxTailLineBytes = 4 << 10 // lines kept for errors are cut shorter
)

// copyLines reads r to EOF (or a read error), writing each line to out (if
// not nil) and keeping it in t. Write errors on out are ignored so that the
// child never blocks on a full pipe.
func copyLines(r io.Reader, out io.Writer, t *tail) {
	br := bufio.NewReaderSize(r, readBufBytes)
	for {
		line, err := readLine(br)
		if err == nil || len(line) > 0 {
			emit(line, out, t)
		}
		if err != nil {
			return
		}
	}
}

// readLine returns the next line without its line ending, cut at
// maxLineBytes. The error is non-nil only at the end of the input.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if room := maxLineBytes - len(line); room > 0 {
			line = append(line, frag[:min(len(frag), room)]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), err
	}
}

func emit(line []byte, out io.Writer, t *tail) {
	if out != nil {
		_, _ = out.Write(append(line, '\n'))
	}
	t.add(string(line[:min(len(line), maxTailLineBytes)]))
}
