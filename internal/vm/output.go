package vm

import (
	"bufio"
	"io"
	"sync"
)

// PrefixWriter returns a writer that starts every line written to w with
// prefix; used to tell two kernels' output apart.
func PrefixWriter(w io.Writer, prefix string) io.Writer {
	return &prefixWriter{w: bufio.NewWriter(w), prefix: prefix, bol: true}
}

type prefixWriter struct {
	mu     sync.Mutex
	w      *bufio.Writer
	prefix string
	bol    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range b {
		if p.bol {
			p.w.WriteString(p.prefix)
			p.bol = false
		}
		p.w.WriteByte(c)
		if c == '\n' {
			p.bol = true
		}
	}
	return len(b), p.w.Flush()
}
