package ipvsadm

import (
	"bufio"
	"errors"
	"io"
)

// maxToken is the longest word ipvsadm -R reads at once; a longer one is
// cut into words of this length.
const maxToken = 4096

// streamReader splits ipvsadm -R's input into command lines the way
// ipvsadm's restore loop does: words are separated by space, tab, CR and
// newline only; a word "ipvsadm" is dropped wherever it stands; a line is
// ended by a newline or the end of the input, except that a line whose
// last word is followed by two or more blanks and then the end of the
// input is lost; '#' is an ordinary character. Lines have no length limit.
type streamReader struct {
	r   *bufio.Reader
	err error // the read error that ended the input, if any
}

func newStreamReader(r io.Reader) *streamReader {
	return &streamReader{r: bufio.NewReader(r)}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// readByte returns the next byte, or false at the end of the input (a
// read error is kept in s.err).
func (s *streamReader) readByte() (byte, bool) {
	c, err := s.r.ReadByte()
	if err != nil {
		if !errors.Is(err, io.EOF) && s.err == nil {
			s.err = err
		}
		return 0, false
	}
	return c, true
}

// next returns the words of the next line, or false when the input ends.
// A line may have no words.
func (s *streamReader) next() ([]string, bool) {
	var words []string
	n := 0 // words read, "ipvsadm" included
	for {
		c, ok := s.readByte()
		if !ok {
			return words, n > 0
		}
		if isBlank(c) {
			// Blanks before a word: skip to the word, or end the line at a
			// newline; the end of the input here loses the line.
			for isBlank(c) && c != '\n' {
				if c, ok = s.readByte(); !ok {
					return nil, false
				}
			}
			if c == '\n' {
				return words, true
			}
		}
		word := []byte{c}
		for len(word) < maxToken {
			if c, ok = s.readByte(); !ok || isBlank(c) {
				break
			}
			word = append(word, c)
		}
		if len(word) == maxToken && ok && !isBlank(c) {
			// A full read: the byte after it is a blank ending the word,
			// or the start of the next word.
			if c, ok = s.readByte(); ok && !isBlank(c) {
				s.r.UnreadByte()
				c = ' '
			}
		}
		n++
		if string(word) != "ipvsadm" {
			words = append(words, string(word))
		}
		switch {
		case !ok:
			return words, true
		case c == '\n':
			return words, true
		}
	}
}
