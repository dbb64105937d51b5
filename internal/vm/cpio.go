package vm

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// cpioWriter writes a cpio archive in the "newc" format, the only one the
// kernel's initramfs unpacker reads. It remembers the directories it wrote so
// that every file's parents exist before the file (the kernel does not create
// missing parents).
type cpioWriter struct {
	w    *bufio.Writer
	n    int64 // bytes written, for the 4-byte alignment
	ino  uint32
	dirs map[string]bool
	err  error
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), ino: 1000, dirs: map[string]bool{"": true, ".": true, "/": true}}
}

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// header writes one newc header and the NUL-terminated name.
func (c *cpioWriter) header(name string, mode uint32, size int64) {
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name))
	c.write([]byte{0})
	c.pad()
}

// clean turns a guest path into the archive's relative form ("usr/bin/ip").
func clean(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// Dir adds a directory and its missing parents.
func (c *cpioWriter) Dir(p string, perm fs.FileMode) {
	p = clean(p)
	if c.dirs[p] {
		return
	}
	c.Dir(path.Dir(p), 0o755)
	c.dirs[p] = true
	c.header(p, 0o040000|uint32(perm.Perm()), 0)
}

// Bytes adds a regular file with the given contents.
func (c *cpioWriter) Bytes(p string, perm fs.FileMode, data []byte) {
	p = clean(p)
	c.Dir(path.Dir(p), 0o755)
	c.header(p, 0o100000|uint32(perm.Perm()), int64(len(data)))
	c.write(data)
	c.pad()
}

// File adds the host file src (following symlinks) at guest path p.
func (c *cpioWriter) File(p, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("cpio: %s is not a regular file", src)
	}
	p = clean(p)
	c.Dir(path.Dir(p), 0o755)
	c.header(p, 0o100000|uint32(st.Mode().Perm()), st.Size())
	if c.err == nil {
		var n int64
		n, c.err = io.Copy(c.w, io.LimitReader(f, st.Size()))
		c.n += n
		if c.err == nil && n != st.Size() {
			c.err = fmt.Errorf("cpio: %s changed size while archiving", src)
		}
	}
	c.pad()
	return c.err
}

// Tree adds the host directory src recursively at guest path p, keeping
// symlinks as symlinks.
func (c *cpioWriter) Tree(p, src string) error {
	var paths []string
	err := fs.WalkDir(os.DirFS(src), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, rel := range paths {
		full := src + "/" + rel
		st, err := os.Lstat(full)
		if err != nil {
			return err
		}
		dst := path.Join(p, rel)
		switch {
		case st.IsDir():
			c.Dir(dst, st.Mode().Perm())
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return err
			}
			c.Symlink(dst, target)
		case st.Mode().IsRegular():
			if err := c.File(dst, full); err != nil {
				return err
			}
		}
	}
	return c.err
}

// Symlink adds a symbolic link p → target.
func (c *cpioWriter) Symlink(p, target string) {
	p = clean(p)
	c.Dir(path.Dir(p), 0o755)
	c.dirs[p] = true // a directory symlink must not be replaced by a directory
	c.header(p, 0o120777, int64(len(target)))
	c.write([]byte(target))
	c.pad()
}

// Close writes the trailer and flushes; it does not close the underlying writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
