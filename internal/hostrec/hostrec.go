package hostrec

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/golvs/lvs/internal/errs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Root is where the records live.
const Root = "/run/golvs"

// Resource is one shared change and who relies on it.
type Resource struct {
	// Owners are the set-up tokens that rely on the change.
	Owners []string `json:"owners"`
	// Orig is the value before the first owner's change (sysctls), Value
	// the value the owners wrote.
	Orig  string `json:"orig,omitempty"`
	Value string `json:"value,omitempty"`
	// Extra holds what a resource kind needs to restore itself (e.g. the
	// side-effect sysctls of ip_forward).
	Extra map[string]string `json:"extra,omitempty"`
}

// Action is one persisted undo action: release Res for Token.
type Action struct {
	Res   string `json:"res"`
	Token string `json:"token"`
}

// Entry is one set-up in an identity's journal.
type Entry struct {
	Token   string   `json:"token"`
	Pkg     string   `json:"pkg"`
	Op      string   `json:"op"`
	Actions []Action `json:"actions"`
}

type journal struct {
	PID     int     `json:"pid"`
	Start   string  `json:"start"`
	Entries []Entry `json:"entries"`
}

// Store is the record directory of one network namespace.
type Store struct {
	dir   string
	owner string // "id:NAME" or "pid:PID:START"
	ident string // "" for an anonymous owner
	me    proc
}

type proc struct {
	pid   int
	start string
}

// Open returns the Store of the namespace whose file is open as nsfd (-1:
// the calling process's namespace), with root as the record root (Root
// unless testing), for owner identity ident ("" is an anonymous owner tied
// to this process: its ownership ends when the process is gone).
func Open(root string, nsfd int, ident string) (*Store, error) {
	var st syscall.Stat_t
	var err error
	if nsfd >= 0 {
		err = syscall.Fstat(nsfd, &st)
	} else {
		err = syscall.Stat("/proc/self/ns/net", &st)
	}
	if err != nil {
		return nil, fmt.Errorf("hostrec: identify network namespace: %w", err)
	}
	if err := ValidIdentity(ident); ident != "" && err != nil {
		return nil, err
	}
	s := &Store{dir: filepath.Join(root, fmt.Sprintf("netns-%x-%x", uint64(st.Dev), uint64(st.Ino))), ident: ident}
	s.me.pid = os.Getpid()
	s.me.start = startTime(s.me.pid)
	if ident != "" {
		s.owner = "id:" + ident
	} else {
		s.owner = "pid:" + strconv.Itoa(s.me.pid) + ":" + s.me.start
	}
	return s, nil
}

// ValidIdentity checks an agent identity: 1..100 characters of letters,
// digits and . _ - : @ [ ] (a VIP and port fit).
func ValidIdentity(id string) error {
	if id == "" || len(id) > 100 {
		return fmt.Errorf("identity %q: want 1..100 characters", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:@[]", c)) {
			return fmt.Errorf("identity %q: %q is not allowed (letters, digits and . _ - : @ [ ])", id, c)
		}
	}
	return nil
}

// Identity is the store's owner identity, "" when anonymous.
func (s *Store) Identity() string { return s.ident }

// Dir is the namespace's record directory.
func (s *Store) Dir() string { return s.dir }

// NewToken returns a fresh set-up token of this owner.
func (s *Store) NewToken() string {
	var b [6]byte
	rand.Read(b[:])
	return s.owner + "#" + hex.EncodeToString(b[:])
}

// Mine reports whether token belongs to this store's owner.
func (s *Store) Mine(token string) bool { return strings.HasPrefix(token, s.owner+"#") }

// Lock takes the namespace's host-wide lock; the returned function
// releases it. It blocks while another process (or Store) holds it.
func (s *Store) Lock() (func(), error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("hostrec: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hostrec: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("hostrec: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the flock
}

// ---- ownership (call with the lock held) ----

func (s *Store) ownersPath() string { return filepath.Join(s.dir, "owners.json") }

// Resources reads the ownership record.
func (s *Store) Resources() (map[string]*Resource, error) {
	m := map[string]*Resource{}
	if err := readJSON(s.ownersPath(), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// SaveResources writes the ownership record (removing it when empty).
func (s *Store) SaveResources(m map[string]*Resource) error {
	for k, r := range m {
		if r == nil || len(r.Owners) == 0 {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return removeFile(s.ownersPath())
	}
	return writeJSON(s.ownersPath(), m)
}

// Live drops from r the owners that no longer exist: anonymous owners
// whose process is gone, and named owners whose journal no longer holds
// the token. It returns r's remaining owners.
func (s *Store) Live(r *Resource) []string {
	r.Owners = slices.DeleteFunc(r.Owners, func(tok string) bool { return !s.alive(tok) })
	return r.Owners
}

func (s *Store) alive(tok string) bool {
	owner, _, ok := strings.Cut(tok, "#")
	if !ok {
		return false
	}
	switch {
	case strings.HasPrefix(owner, "pid:"):
		f := strings.Split(owner, ":")
		if len(f) != 3 {
			return false
		}
		pid, err := strconv.Atoi(f[1])
		return err == nil && startTime(pid) == f[2]
	case strings.HasPrefix(owner, "id:"):
		var j journal
		if err := readJSON(s.journalPath(strings.TrimPrefix(owner, "id:")), &j); err != nil {
			return true // unreadable: keep rather than restore under someone
		}
		return slices.ContainsFunc(j.Entries, func(e Entry) bool { return e.Token == tok })
	}
	return false
}

// OwnedByOthers reports whether r has a live owner of another owner
// identity than s.
func (s *Store) OwnedByOthers(r *Resource) bool {
	return slices.ContainsFunc(s.Live(r), func(t string) bool { return !s.Mine(t) })
}

// ---- journals (call with the lock held) ----

func (s *Store) journalPath(ident string) string {
	return filepath.Join(s.dir, "journal-"+ident+".json")
}

// Claim makes this process the holder of the store's identity. Another
// live process holding it is an error naming it: two agents with one
// identity would undo each other's changes.
func (s *Store) Claim() error {
	if s.ident == "" {
		return nil
	}
	var j journal
	p := s.journalPath(s.ident)
	if err := readJSON(p, &j); err != nil {
		return err
	}
	if j.PID != 0 && (j.PID != s.me.pid || j.Start != s.me.start) && startTime(j.PID) == j.Start && j.Start != "" {
		return &errs.Error{Pkg: "hostrec", Op: "claim identity " + strconv.Quote(s.ident), Kind: errs.ErrConflict, Err: fmt.Errorf("in use by process %d", j.PID)}
	}
	if j.PID == s.me.pid && j.Start == s.me.start {
		return nil
	}
	if len(j.Entries) == 0 {
		return nil // written with the first entry
	}
	j.PID, j.Start = s.me.pid, s.me.start
	return writeJSON(p, &j)
}

// Entries lists the identity's journal entries (none when anonymous).
func (s *Store) Entries() ([]Entry, error) {
	if s.ident == "" {
		return nil, nil
	}
	var j journal
	if err := readJSON(s.journalPath(s.ident), &j); err != nil {
		return nil, err
	}
	return j.Entries, nil
}

// Append adds action a to entry token's actions (creating the entry, for
// pkg and op), fsync'd, before the caller makes the change it undoes. A
// no-op for an anonymous owner.
func (s *Store) Append(token, pkg, op string, a Action) error {
	if s.ident == "" {
		return nil
	}
	return s.editJournal(func(j *journal) {
		for i := range j.Entries {
			if j.Entries[i].Token == token {
				j.Entries[i].Actions = append(j.Entries[i].Actions, a)
				return
			}
		}
		j.Entries = append(j.Entries, Entry{Token: token, Pkg: pkg, Op: op, Actions: []Action{a}})
	})
}

// Forget removes entry token from the journal, once undone.
func (s *Store) Forget(token string) error {
	if s.ident == "" {
		return nil
	}
	return s.editJournal(func(j *journal) {
		j.Entries = slices.DeleteFunc(j.Entries, func(e Entry) bool { return e.Token == token })
	})
}

func (s *Store) editJournal(f func(*journal)) error {
	p := s.journalPath(s.ident)
	var j journal
	if err := readJSON(p, &j); err != nil {
		return err
	}
	f(&j)
	if len(j.Entries) == 0 {
		return removeFile(p)
	}
	j.PID, j.Start = s.me.pid, s.me.start
	return writeJSON(p, &j)
}

// ---- files ----

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hostrec: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("hostrec: %s is damaged: %w", path, err)
	}
	return nil
}

// writeJSON replaces path atomically and durably: a temporary file,
// fsync'd, renamed over it, and the directory fsync'd.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("hostrec: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("hostrec: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("hostrec: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hostrec: %w", err)
	}
	return syncDir(dir)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("hostrec: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("hostrec: %w", err)
	}
	defer d.Close()
	d.Sync()
	return nil
}

// startTime is field 22 of /proc/PID/stat (clock ticks since boot), which
// tells a process from a later one that reuses its PID; "" if there is no
// such process.
func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}
