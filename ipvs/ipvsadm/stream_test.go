package ipvsadm

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestStreamReaderSplitsLikeIpvsadm(t *testing.T) {
	long := strings.Repeat("r", maxToken)
	for _, c := range []struct {
		in   string
		want [][]string
	}{
		{"-A -t 1.1.1.1:80\n", [][]string{{"-A", "-t", "1.1.1.1:80"}}},
		{"ipvsadm -A ipvsadm\n\nipvsadm\n", [][]string{{"-A"}, {}, {}}},
		{"a\tb\r\n\vc d\f\n", [][]string{{"a", "b"}, {"\vc", "d\f"}}},
		{"a b", [][]string{{"a", "b"}}},
		{"a b ", [][]string{{"a", "b"}}},
		{"a b  ", nil}, // two blanks, then the end: lost
		{"x\na b  ", [][]string{{"x"}}},
		{"# c\n", [][]string{{"#", "c"}}},
		{long + "rr x\n", [][]string{{long, "rr", "x"}}},
		{long + " x\n", [][]string{{long, "x"}}},
		{long + "\n", [][]string{{long}}},
		{long, [][]string{{long}}},
		{"a" + strings.Repeat(" ", 2<<20) + "b\n", [][]string{{"a", "b"}}},
	} {
		s := newStreamReader(strings.NewReader(c.in))
		var got [][]string
		for {
			w, ok := s.next()
			if !ok {
				break
			}
			if w == nil {
				w = []string{}
			}
			got = append(got, w)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%.40q: %q, want %q", c.in, got, c.want)
		}
	}
}

type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "\n\n"), nil
	}
	return 0, errors.New("input/output error")
}

// A read error ends ipvsadm -R with a message and a failure status, never
// as if the input had ended.
func TestRestoreReportsReadError(t *testing.T) {
	var o, e bytes.Buffer
	rc := Run(context.Background(), nil, []string{"ipvsadm", "-R"}, &failingReader{}, &o, &e)
	if rc != 2 || o.Len() != 0 || e.String() != "ipvsadm: reading rules from standard input: input/output error\n" {
		t.Errorf("rc %d, stdout %q, stderr %q", rc, o.String(), e.String())
	}
}

func FuzzStreamReader(f *testing.F) {
	f.Add("-A -t 1.1.1.1:80 -s rr\nipvsadm -a -t 1.1.1.1:80 -r 2.2.2.2\r\n  \n")
	f.Add(strings.Repeat("x", maxToken+3) + " \t")
	f.Fuzz(func(t *testing.T, in string) {
		s := newStreamReader(strings.NewReader(in))
		total := 0
		for lines := 0; ; lines++ {
			w, ok := s.next()
			if !ok {
				break
			}
			if lines > len(in) {
				t.Fatal("more lines than bytes")
			}
			for _, x := range w {
				if x == "" || x == "ipvsadm" || len(x) > maxToken || strings.ContainsAny(x, " \t\r\n") {
					t.Fatalf("word %q", x)
				}
				total += len(x)
			}
		}
		if total > len(in) {
			t.Fatalf("%d bytes of words from %d", total, len(in))
		}
	})
}
