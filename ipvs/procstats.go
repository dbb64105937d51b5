package ipvs

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseGlobalStats parses the text of /proc/net/ip_vs_stats: the totals
// of every service of the namespace (connections, packets and bytes in and
// out) and their estimated rates, all in hexadecimal. It is a pure
// function.
func ParseGlobalStats(r io.Reader) (Stats, error) {
	s, err := parseGlobalStats(r)
	if err != nil {
		return Stats{}, newError("parse global stats", "", ErrInvalid, err)
	}
	return s, nil
}

// parseGlobalStats is ParseGlobalStats with plain errors.
func parseGlobalStats(r io.Reader) (Stats, error) {
	sc := bufio.NewScanner(r)
	var rows [][5]uint64
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !isHexRow(f) {
			continue
		}
		if len(f) != 5 {
			return Stats{}, fmt.Errorf("line %d: want 5 numbers, have %d", line, len(f))
		}
		var row [5]uint64
		for i, s := range f {
			v, err := strconv.ParseUint(s, 16, 64)
			if err != nil {
				return Stats{}, fmt.Errorf("line %d: %q: %v", line, s, err)
			}
			row[i] = v
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return Stats{}, fmt.Errorf("reading: %w", err)
	}
	if len(rows) != 2 {
		return Stats{}, fmt.Errorf("want 2 rows of numbers, have %d", len(rows))
	}
	t, r2 := rows[0], rows[1]
	return Stats{
		Connections: t[0], PacketsIn: t[1], PacketsOut: t[2], BytesIn: t[3], BytesOut: t[4],
		CPS: r2[0], PPSIn: r2[1], PPSOut: r2[2], BPSIn: r2[3], BPSOut: r2[4],
	}, nil
}

// isHexRow tells the number rows from the column titles: titles contain
// letters beyond a-f or a slash.
func isHexRow(f []string) bool {
	for _, s := range f {
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
