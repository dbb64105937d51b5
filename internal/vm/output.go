package vm

import (
	"bytes"
	"io"
	"sync"
)

// maxPartialLine bounds how much of an unfinished line is held back: a
// guest printing a very long line without a newline still shows up.
const maxPartialLine = 64 << 10

// LineWriter prefixes every line written to it and passes only whole lines
// to the underlying writer, each in one Write: two kernels' runs sharing
// one output (vmtest runs them at once) then interleave by line, never
// inside one. Flush writes a trailing unfinished line.
type LineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  []byte
	partial []byte
}

// PrefixWriter returns a LineWriter that starts every line written to w
// with prefix; used to tell two kernels' output apart. If several
// LineWriters share w, w must serialise concurrent Writes itself (see
// SyncWriter).
func PrefixWriter(w io.Writer, prefix string) *LineWriter {
	return &LineWriter{w: w, prefix: []byte(prefix)}
}

func (p *LineWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			if len(p.partial) >= maxPartialLine {
				return n, p.emit(false)
			}
			return n, nil
		}
		p.partial = append(p.partial, b[:i+1]...)
		b = b[i+1:]
		if err := p.emit(true); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Flush writes what is held of an unfinished line, with a newline.
func (p *LineWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) == 0 {
		return nil
	}
	p.partial = append(p.partial, '\n')
	return p.emit(true)
}

// emit writes the held line with its prefix in one Write.
func (p *LineWriter) emit(complete bool) error {
	line := make([]byte, 0, len(p.prefix)+len(p.partial))
	line = append(append(line, p.prefix...), p.partial...)
	if !complete {
		line = append(line, '\n')
	}
	p.partial = p.partial[:0]
	_, err := p.w.Write(line)
	return err
}

// SyncWriter serialises Writes to w, for writers shared by goroutines.
type SyncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewSyncWriter returns a SyncWriter writing to w.
func NewSyncWriter(w io.Writer) *SyncWriter { return &SyncWriter{w: w} }

func (s *SyncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
