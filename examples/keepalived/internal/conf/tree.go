package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Node is one statement of the file: a keyword, its arguments and, for a
// block, the statements inside its braces.
type Node struct {
	Key      string
	Args     []string
	Block    bool
	Children []*Node
	Pos      Pos
}

// Pos is where a statement starts.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Problem is one finding of the parser, with its position.
type Problem struct {
	Pos     Pos
	Warning bool // keepalived would ignore it too; the agent runs
	Msg     string
}

func (p Problem) String() string {
	kind := "error"
	if p.Warning {
		kind = "warning"
	}
	return fmt.Sprintf("%s: %s: %s", p.Pos, kind, p.Msg)
}

// token is one word of a line, or a brace.
type token struct {
	s     string
	brace bool // an unquoted { or }
	pos   Pos
	eol   bool // the last token of its line
}

// maxIncludeDepth bounds nested includes (a file including itself), and
// maxFiles the files read in all (files including each other twice).
const (
	maxIncludeDepth = 8
	maxFiles        = 1000
)

// lexer turns files into tokens, splicing includes in where they stand.
type lexer struct {
	toks     []token
	files    int
	problems []Problem
	readFile func(string) ([]byte, error)
	glob     func(string) ([]string, error)
}

func (l *lexer) errorf(p Pos, format string, a ...any) {
	l.problems = append(l.problems, Problem{Pos: p, Msg: fmt.Sprintf(format, a...)})
}

func (l *lexer) warnf(p Pos, format string, a ...any) {
	l.problems = append(l.problems, Problem{Pos: p, Warning: true, Msg: fmt.Sprintf(format, a...)})
}

// file lexes one file (name as it is reported) with its content.
func (l *lexer) file(name string, data []byte, depth int) {
	for i, line := range strings.Split(string(data), "\n") {
		pos := Pos{File: name, Line: i + 1}
		words, err := splitLine(line)
		if err != nil {
			l.errorf(pos, "%v", err)
			continue
		}
		if len(words) == 0 {
			continue
		}
		if w := words[0]; !w.brace && (strings.HasPrefix(w.s, "@") || strings.HasPrefix(w.s, "$") || w.s == "~SEQ" || strings.HasPrefix(w.s, "~")) {
			l.errorf(pos, "conditional configuration, parameter substitution and sequence blocks (%q) are not supported", w.s)
			continue
		}
		if w := words[0]; !w.brace && isInclude(w.s) {
			l.include(pos, w.s, words[1:], depth)
			continue
		}
		for j := range words {
			words[j].pos = pos
		}
		words[len(words)-1].eol = true
		l.toks = append(l.toks, words...)
	}
}

func isInclude(s string) bool {
	switch s {
	case "include", "includer", "includem", "includew", "includeb", "includea":
		return true
	}
	return false
}

func (l *lexer) include(pos Pos, kw string, args []token, depth int) {
	if len(args) != 1 || args[0].brace {
		l.errorf(pos, "%s needs exactly one file name or pattern", kw)
		return
	}
	if depth >= maxIncludeDepth {
		l.errorf(pos, "%s: includes nested more than %d deep", kw, maxIncludeDepth)
		return
	}
	pat := args[0].s
	if !filepath.IsAbs(pat) {
		pat = filepath.Join(filepath.Dir(pos.File), pat)
	}
	names, err := l.glob(pat)
	if err != nil {
		l.errorf(pos, "%s %s: %v", kw, args[0].s, err)
		return
	}
	if len(names) == 0 {
		// keepalived's plain include tolerates a pattern matching nothing;
		// includea and includem do not.
		if kw == "includea" || kw == "includem" {
			l.errorf(pos, "%s %s: no file matches", kw, args[0].s)
		} else {
			l.warnf(pos, "%s %s: no file matches", kw, args[0].s)
		}
		return
	}
	slices.Sort(names)
	for _, n := range names {
		if l.files++; l.files > maxFiles {
			l.errorf(pos, "%s: more than %d files included in all", kw, maxFiles)
			return
		}
		data, err := l.readFile(n)
		if err != nil {
			l.errorf(pos, "%s: %v", kw, err)
			continue
		}
		l.file(n, data, depth+1)
	}
}

// splitLine splits a line into words and braces, keepalived's way: '#' and
// '!' start a comment anywhere outside quotes, quotes (" or ') group words
// and are removed, a backslash escapes inside quotes.
func splitLine(line string) ([]token, error) {
	var out []token
	var cur strings.Builder
	inWord, quoted := false, false
	var q byte
	flush := func() {
		if inWord {
			out = append(out, token{s: cur.String()})
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quoted {
			switch {
			case c == q:
				quoted = false
			case c == '\\' && i+1 < len(line):
				i++
				cur.WriteByte(unescape(line[i]))
			default:
				cur.WriteByte(c)
			}
			continue
		}
		switch c {
		case '#', '!':
			flush()
			return out, nil
		case ' ', '\t', '\r', '\v', '\f':
			flush()
		case '{', '}':
			flush()
			out = append(out, token{s: string(c), brace: true})
		case '"', '\'':
			quoted, q, inWord = true, c, true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quoted string")
	}
	flush()
	return out, nil
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	}
	return c
}

// parseTree builds the statement tree from the tokens. A statement runs
// to the end of its line; a '{' (on its line or the next) opens its block.
func parseTree(toks []token) ([]*Node, []Problem) {
	var probs []Problem
	root := &Node{Block: true}
	stack := []*Node{root}
	var last *Node // the statement a '{' at the start of a line opens
	for i := 0; i < len(toks); {
		t := toks[i]
		top := stack[len(stack)-1]
		if t.brace {
			i++
			if t.s == "}" {
				if len(stack) == 1 {
					probs = append(probs, Problem{Pos: t.pos, Msg: "unmatched '}'"})
				} else {
					stack = stack[:len(stack)-1]
				}
				last = nil
				continue
			}
			if last == nil || last.Block {
				probs = append(probs, Problem{Pos: t.pos, Msg: "'{' without a keyword"})
				// Parse the block anyway so that its braces pair up.
				last = &Node{Key: "{", Pos: t.pos}
			}
			last.Block = true
			stack = append(stack, last)
			last = nil
			continue
		}
		n := &Node{Key: t.s, Pos: t.pos}
		i++
		for !t.eol && i < len(toks) && !toks[i].brace {
			t = toks[i]
			n.Args = append(n.Args, t.s)
			i++
		}
		top.Children = append(top.Children, n)
		last = n
		// A '{' ends the statement's words; on this line it opens at once.
		if !t.eol && i < len(toks) && toks[i].s == "{" && toks[i].brace {
			continue
		}
		if t.eol && i < len(toks) && toks[i].brace && toks[i].s == "{" {
			continue
		}
		last = nil
	}
	if len(stack) > 1 {
		b := stack[len(stack)-1]
		probs = append(probs, Problem{Pos: b.Pos, Msg: fmt.Sprintf("block %q is never closed", b.Key)})
	}
	return root.Children, probs
}

// readTree reads path and its includes into a statement tree.
func readTree(path string, readFile func(string) ([]byte, error), glob func(string) ([]string, error)) ([]*Node, []Problem) {
	l := &lexer{readFile: readFile, glob: glob}
	data, err := readFile(path)
	if err != nil {
		return nil, []Problem{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	l.file(path, data, 0)
	nodes, probs := parseTree(l.toks)
	return nodes, append(l.problems, probs...)
}

func osGlob(pat string) ([]string, error) {
	if !strings.ContainsAny(pat, "*?[") {
		if _, err := os.Stat(pat); err != nil {
			return nil, nil
		}
		return []string{pat}, nil
	}
	return filepath.Glob(pat)
}
