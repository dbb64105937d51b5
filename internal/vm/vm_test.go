package vm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCPIO(t *testing.T) {
	var b bytes.Buffer
	c := newCPIOWriter(&b)
	c.Bytes("/a/b/c.txt", 0o644, []byte("hello"))
	c.Symlink("/lib", "usr/lib")
	c.Dir("/lib/x", 0o755) // under a symlink: no directory entry for lib
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var names []string
	data := b.Bytes()
	for off := 0; off < len(data); {
		if len(data)-off < 110 || string(data[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		hex := func(i int) int {
			var v int
			for _, ch := range string(data[off+6+8*i : off+14+8*i]) {
				v = v*16 + strings.IndexRune("0123456789ABCDEF", ch)
			}
			return v
		}
		size, nameLen := hex(6), hex(11)
		name := string(data[off+110 : off+110+nameLen-1])
		names = append(names, name)
		off += (110 + nameLen + 3) &^ 3
		off += (size + 3) &^ 3
		if name == "TRAILER!!!" {
			break
		}
	}
	want := "a a/b a/b/c.txt lib lib/x TRAILER!!!"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("entries = %q, want %q", got, want)
	}
	if len(data)%4 != 0 {
		t.Errorf("length %d not 4-aligned", len(data))
	}
}

func TestShellQuote(t *testing.T) {
	got := ShellQuote("ipvsadm", "-A", "it's", "")
	if want := `ipvsadm -A 'it'\''s' ''`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	var writes []string
	w := PrefixWriter(writerFunc(func(p []byte) (int, error) {
		writes = append(writes, string(p))
		return b.Write(p)
	}), "[6.1] ")
	w.Write([]byte("a\nb"))
	w.Write([]byte("c\n"))
	w.Write([]byte("d\ne\nf"))
	if got, want := b.String(), "[6.1] a\n[6.1] bc\n[6.1] d\n[6.1] e\n"; got != want {
		t.Errorf("before Flush got %q, want %q", got, want)
	}
	// Each line reaches the writer whole, in one Write, so two kernels'
	// writers sharing stdout never split each other's lines.
	for _, s := range writes {
		if strings.Count(s, "\n") != 1 || !strings.HasPrefix(s, "[6.1] ") {
			t.Errorf("write %q is not one prefixed line", s)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "[6.1] a\n[6.1] bc\n[6.1] d\n[6.1] e\n[6.1] f\n"; got != want {
		t.Errorf("after Flush got %q, want %q", got, want)
	}
	long := bytes.Repeat([]byte("x"), maxPartialLine)
	b.Reset()
	w.Write(long)
	if b.Len() != len("[6.1] ")+maxPartialLine+1 {
		t.Errorf("a %d-byte unfinished line was held back (%d bytes written)", len(long), b.Len())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestCacheDir(t *testing.T) {
	t.Setenv("LVS_VM_CACHE", "/x/y")
	if d, _ := CacheDir(); d != "/x/y" {
		t.Errorf("got %s", d)
	}
	t.Setenv("LVS_VM_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/c")
	if d, _ := CacheDir(); d != filepath.Join("/c", "golvs-vm") && os.Getenv("HOME") != "" {
		t.Errorf("got %s", d)
	}
}
