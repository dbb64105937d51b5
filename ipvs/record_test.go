package ipvs

import (
	"bytes"
	"context"
	"sync"
)

// This file lends the external kernel tests (package ipvs_test) a way to
// capture the kernel's raw reply messages, which become the golden files
// under testdata/replies.

// RecordedReply is one reply message: its generic netlink command and its
// attributes, exactly as the kernel sent them.
type RecordedReply struct {
	Cmd   uint8
	Attrs []byte
}

type recordingTransport struct {
	transport
	mu   sync.Mutex
	msgs []RecordedReply
}

func (r *recordingTransport) do(ctx context.Context, req request, fn func(uint8, []byte) error) error {
	return r.transport.do(ctx, req, func(cmd uint8, b []byte) error {
		r.mu.Lock()
		r.msgs = append(r.msgs, RecordedReply{Cmd: cmd, Attrs: bytes.Clone(b)})
		r.mu.Unlock()
		return fn(cmd, b)
	})
}

func (r *recordingTransport) dumpSized(ctx context.Context, req request, size int, fn func(uint8, []byte) error) error {
	sd, ok := r.transport.(sizedDumper)
	if !ok {
		return r.do(ctx, req, fn)
	}
	return sd.dumpSized(ctx, req, size, func(cmd uint8, b []byte) error {
		r.mu.Lock()
		r.msgs = append(r.msgs, RecordedReply{Cmd: cmd, Attrs: bytes.Clone(b)})
		r.mu.Unlock()
		return fn(cmd, b)
	})
}

// StartRecording makes c keep every reply message from now on; the
// function returned hands over (and forgets) what was kept so far.
func StartRecording(c *Client) (take func() []RecordedReply) {
	r, ok := c.t.(*recordingTransport)
	if !ok {
		r = &recordingTransport{transport: c.t}
		c.t = r
	}
	return func() []RecordedReply {
		r.mu.Lock()
		defer r.mu.Unlock()
		out := r.msgs
		r.msgs = nil
		return out
	}
}
