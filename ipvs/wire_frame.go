package ipvs

// encodeFunc appends the attributes of request i of a batch to w and
// returns its command.
type encodeFunc func(i int, w *attrWriter) uint8

// frameBatch appends requests from, from+1, … of a batch of n to b as
// netlink messages numbered from seq, encoding each in place, until the
// next one would take b past limit (the first always goes in). The last
// one appended asks for an acknowledgement. It returns the buffer and the
// index after the last request appended.
func frameBatch(b []byte, family uint16, pid, seq uint32, from, n, limit int, enc encodeFunc) ([]byte, int) {
	w := attrWriter{b: b}
	last := -1
	i := from
	for ; i < n; i++ {
		start := w.msgBegin()
		cmd := enc(i, &w)
		if i > from && len(w.b) > limit {
			w.b = w.b[:start] // sent with the next chunk
			break
		}
		w.msgEnd(start, family, nlmFRequest, seq+uint32(i-from), pid, cmd)
		last = start
	}
	if last >= 0 {
		native.PutUint16(w.b[last+6:], nlmFRequest|nlmFAck)
	}
	return w.b, i
}
