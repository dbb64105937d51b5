//go:build linux

package netcfg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/hostrec"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tx is one set-up's part in the host's records: its token, under the
// host-wide lock for as long as the set-up (or its teardown) runs.
type tx struct {
	h       *Host
	token   string
	pkg, op string
}

// Restorer undoes a resource of a kind netcfg does not know once its last
// owner is gone (e.g. deletes a rule); r is the resource's record.
type Restorer func(res string, r *hostrec.Resource) error

// store opens the host's record store on first use.
func (h *Host) recStore() (*hostrec.Store, error) {
	h.storeOnce.Do(func() {
		h.store, h.storeErr = hostrec.Open(hostrec.Root, h.nsfd, h.ident)
	})
	return h.store, h.storeErr
}

// Identity is the owner identity given to OpenConfig ("" when anonymous).
func (h *Host) Identity() string { return h.ident }

// Locked runs f under the namespace's host-wide lock (see internal/hostrec),
// which every process using the SDK takes for its changes there.
func (h *Host) Locked(f func() error) error {
	st, err := h.recStore()
	if err != nil {
		return err
	}
	unlock, err := st.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	return f()
}

// Change runs the set-up f of pkg's call op under the host-wide lock with
// a fresh Journal that takes part in the host's ownership records: every
// shared change f makes through the Journal is owned by this set-up's
// token, and is restored only when its last owner releases it and only if
// it still holds the value the owners wrote. For a Host opened with an
// identity every release is also written, before its change, to the
// identity's journal on the host, so that Recover can undo it after a
// crash. If f fails, what it did is undone (and the error says whether
// that failed too, errs.ErrRollback). A set-up that changed nothing (only
// joined resources another set-up of the same owner holds) gets back an
// empty Journal.
func (h *Host) Change(pkg, op string, f func(j *Journal) error) (*Journal, error) {
	st, err := h.recStore()
	if err != nil {
		return nil, err
	}
	j := &Journal{tx: &tx{h: h, token: st.NewToken(), pkg: pkg, op: op}}
	err = h.Locked(func() error {
		if err := st.Claim(); err != nil {
			return err
		}
		if err := j.Run(func() error { return f(j) }); err != nil {
			return errors.Join(err, st.Forget(j.tx.token))
		}
		if !j.Changed() {
			if err := j.Undo(); err != nil {
				return err
			}
			return st.Forget(j.tx.token)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// Teardown undoes a Journal from Change under the host-wide lock, and
// forgets it in the identity's journal once every step succeeded.
func (j *Journal) Teardown() error {
	if j.tx == nil {
		return j.Undo()
	}
	h := j.tx.h
	if err := h.Err(); err != nil {
		return err
	}
	return h.withStore(func(st *hostrec.Store) error {
		if err := j.Undo(); err != nil {
			return err
		}
		return st.Forget(j.tx.token)
	})
}

// resources reads the namespace's ownership records.
func (h *Host) resources() (*hostrec.Store, map[string]*hostrec.Resource, error) {
	st, err := h.recStore()
	if err != nil {
		return nil, nil, err
	}
	m, err := st.Resources()
	return st, m, err
}

// withStore runs f with the record store under the host-wide lock.
func (h *Host) withStore(f func(st *hostrec.Store) error) error {
	st, err := h.recStore()
	if err != nil {
		return err
	}
	return h.Locked(func() error { return f(st) })
}

// Own takes part in resource res (a kind prefix, a space, and what names
// it, e.g. "arptables INPUT -d 10.0.0.1 -j DROP") for j's set-up. cur is
// the host's state of it now (a sysctl's value; "1" for an object that
// exists, "" if not), value the state the set-up writes, present whether
// cur already satisfies the set-up. A record whose value is not cur is
// stale (someone changed the host since) and is forgotten.
//
// If present: when an owner recorded it, j joins its owners; when nobody
// did, it is not ours and nothing is recorded. Otherwise the release is
// written ahead to the identity's journal, the resource recorded (cur as
// the original), and apply run; what apply returns is kept in the
// record's Extra. A record held by a live owner at a value that does not
// satisfy the set-up is an ErrConflict error. Release undoes through
// restore (nil: netcfg's own kinds); desc describes the undo step.
func (h *Host) Own(j *Journal, res, desc, cur, value string, present bool, apply func() (map[string]string, error), restore Restorer) error {
	if j.tx == nil {
		return &errs.Error{Pkg: pkg, Op: "own " + res, Kind: errs.ErrInvalid, Err: errors.New("Own needs a Journal from Change")}
	}
	st, m, err := h.resources()
	if err != nil {
		return err
	}
	r := m[res]
	if r != nil && r.Value != cur {
		delete(m, res) // stale: the change is someone else's now
		r = nil
	}
	tok := j.tx.token
	rel := func() error { return h.Release(res, tok, restore) }
	if present {
		if r == nil {
			return nil // not ours: leave it alone
		}
		sameOwner := len(st.Live(r)) > 0 && !st.OwnedByOthers(r)
		if err := st.Append(tok, j.tx.pkg, j.tx.op, hostrec.Action{Res: res, Token: tok}); err != nil {
			return err
		}
		r.Owners = append(r.Owners, tok)
		if err := st.SaveResources(m); err != nil {
			return err
		}
		j.steps = append(j.steps, step{desc: "release " + desc, undo: rel, join: sameOwner})
		return nil
	}
	orig := cur
	if r != nil {
		if len(st.Live(r)) > 0 {
			return &errs.Error{Pkg: pkg, Op: "own " + res, Kind: errs.ErrConflict, Err: fmt.Errorf("held at %q by another set-up (%s)", r.Value, strings.Join(r.Owners, ", "))}
		}
		orig = r.Orig // a dead owner's leftover: keep the true original
	}
	if err := st.Append(tok, j.tx.pkg, j.tx.op, hostrec.Action{Res: res, Token: tok}); err != nil {
		return err
	}
	r = &hostrec.Resource{Owners: []string{tok}, Orig: orig, Value: value}
	m[res] = r
	if err := st.SaveResources(m); err != nil {
		return err
	}
	j.steps = append(j.steps, step{desc: desc, undo: rel})
	crashPoint(st, false)
	extra, err := apply()
	crashPoint(st, true)
	if err != nil || len(extra) == 0 {
		return err
	}
	r.Extra = extra
	return st.SaveResources(m)
}

// Present is Own's cur for an object: "1" if it exists, "" if not.
func Present(exists bool) string {
	if exists {
		return "1"
	}
	return ""
}

// Release drops token from res's owners (with the lock held); when no live
// owner is left it restores the resource (restore, or netcfg's own kinds
// when nil) and forgets it. Releasing twice is harmless.
func (h *Host) Release(res, token string, restore Restorer) error {
	if err := h.Err(); err != nil {
		return err
	}
	st, m, err := h.resources()
	if err != nil {
		return err
	}
	r := m[res]
	if r == nil {
		return nil
	}
	r.Owners = removeString(r.Owners, token)
	if len(st.Live(r)) == 0 {
		if restore == nil {
			restore = h.restore
		}
		if err := restore(res, r); err != nil {
			r.Owners = append(r.Owners, token) // keep it for a retry
			return err
		}
		delete(m, res)
	}
	return st.SaveResources(m)
}

// Recover undoes, under the host-wide lock, the entries of pkg in the
// journal of the Host's identity: what a dead process with that identity
// left. restore handles the resource kinds that are not netcfg's own.
func (h *Host) Recover(pkg string, restore Restorer) error {
	if h.ident == "" {
		return nil
	}
	return h.withStore(func(st *hostrec.Store) error {
		if err := st.Claim(); err != nil {
			return err
		}
		ents, err := st.Entries()
		if err != nil {
			return err
		}
		var errs []error
		for i := len(ents) - 1; i >= 0; i-- {
			e := ents[i]
			if e.Pkg != pkg {
				continue
			}
			var eerrs []error
			for k := len(e.Actions) - 1; k >= 0; k-- {
				a := e.Actions[k]
				var rs Restorer
				if restore != nil && !h.ownKind(a.Res) {
					rs = restore
				}
				if err := h.Release(a.Res, a.Token, rs); err != nil {
					eerrs = append(eerrs, fmt.Errorf("%s: %w", a.Res, err))
				}
			}
			if len(eerrs) == 0 {
				eerrs = append(eerrs, st.Forget(e.Token))
			}
			errs = append(errs, eerrs...)
		}
		return errors.Join(errs...)
	})
}

func removeString(xs []string, s string) []string {
	out := xs[:0]
	for _, x := range xs {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func (h *Host) ownKind(res string) bool {
	kind, _, _ := strings.Cut(res, " ")
	switch kind {
	case "sysctl", "tree", "addr", "link", "up", "fou":
		return true
	}
	return false
}

// restore undoes one of netcfg's own resource kinds, only if the host still
// holds what the owners made.
func (h *Host) restore(res string, r *hostrec.Resource) error {
	kind, arg, _ := strings.Cut(res, " ")
	switch kind {
	case "sysctl":
		cur, err := h.Sysctl(arg)
		if err != nil || cur != r.Value {
			return nil // gone, or changed by someone else since: theirs now
		}
		return h.writeSysctl(arg, r.Orig)
	case "tree":
		return h.restoreTree(arg, r)
	case "addr":
		dev, p, _ := strings.Cut(arg, " ")
		return h.delAddr(dev, p)
	case "link", "up":
		l, err := h.nl.LinkByName(arg)
		if err != nil {
			return nil // gone
		}
		if idx, ok := r.Extra["index"]; ok && strconv.Itoa(l.Attrs().Index) != idx {
			return nil // another device of that name now
		}
		if kind == "up" {
			return h.nl.LinkSetDown(l)
		}
		return h.nl.LinkDel(l)
	case "fou":
		f, err := parseFouRes(arg)
		if err != nil {
			return err
		}
		// The kernel answers EINVAL, not ENOENT, for a port that is not
		// open: look first (a crash between the record and the change
		// leaves none).
		have, err := h.Fous()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(have, f.same) {
			return nil
		}
		if err := h.fouDo(fouCmdDel, f); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		return nil
	}
	return &errs.Error{Pkg: pkg, Op: "release " + res, Kind: errs.ErrInvalid, Err: errors.New("no restorer for this kind of resource")}
}

func (h *Host) delAddr(dev, p string) error {
	l, err := h.nl.LinkByName(dev)
	if err != nil {
		return nil // the device is gone, and the address with it
	}
	pf, err := parsePrefix(p)
	if err != nil {
		return err
	}
	err = h.nl.AddrDel(l, &netlink.Addr{IPNet: toIPNet(pf)})
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}

// ---- sysctl trees ----

// SetSysctlTree sets key, whose write has side effects on other sysctls
// under tree: writing ip_forward rewrites every conf/*/forwarding and
// conf/all/accept_redirects (IPv6 all.forwarding likewise). The last
// owner's release restores key and then puts back every side-effect key:
// those the set-up write changed to their values before it, and those the
// undo write changed to their values before the undo write. That keeps
// non-default per-interface values exactly as they were.
func (h *Host) SetSysctlTree(j *Journal, key, value, tree string) error {
	if err := validSysctl(key); err != nil {
		return err
	}
	prev, err := h.Sysctl(key)
	if err != nil {
		return err
	}
	if j.tx == nil {
		if prev == value {
			return nil
		}
		return h.writeSysctl(key, value)
	}
	before, err := h.readTree(tree)
	if err != nil {
		return err
	}
	return h.Own(j, "tree "+key, "restore sysctl "+key+"="+prev+" and what writing it changes under "+tree,
		prev, value, prev == value, func() (map[string]string, error) {
			if err := h.writeSysctl(key, value); err != nil {
				return nil, err
			}
			after, err := h.readTree(tree)
			if err != nil {
				return nil, err
			}
			extra := map[string]string{"tree": tree}
			for k, v := range before {
				if w, ok := after[k]; ok && w != v && k != key {
					extra[k] = v
				}
			}
			return extra, nil
		}, nil)
}

func (h *Host) restoreTree(key string, r *hostrec.Resource) error {
	cur, err := h.Sysctl(key)
	if err != nil || cur != r.Value {
		return nil
	}
	tree := r.Extra["tree"]
	if tree == "" {
		return h.writeSysctl(key, r.Orig) // crashed before the side effects were recorded
	}
	pre, err := h.readTree(tree)
	if err != nil {
		return err
	}
	if err := h.writeSysctl(key, r.Orig); err != nil {
		return err
	}
	post, err := h.readTree(tree)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(post))
	for k := range post {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if k == key {
			continue
		}
		want, ok := pre[k]
		if b, changed := r.Extra[k]; changed && k != "tree" {
			want = b
		}
		if ok && post[k] != want {
			if err := h.writeSysctl(k, want); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// readTree reads every readable sysctl tree/IFACE/KEY.
func (h *Host) readTree(tree string) (map[string]string, error) {
	m := map[string]string{}
	err := h.Do(func() error {
		dirs, err := os.ReadDir("/proc/sys/" + tree)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			files, err := os.ReadDir(filepath.Join("/proc/sys", tree, d.Name()))
			if err != nil {
				continue // the device went away
			}
			for _, f := range files {
				k := tree + "/" + d.Name() + "/" + f.Name()
				if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
					m[k] = strings.TrimSpace(string(b))
				}
			}
		}
		return nil
	})
	return m, err
}

// crashPoint is the fault-injection hook of the kernel tests: with
// LVS_TEST_CRASH_AT=k the process dies (as by SIGKILL) once its identity's
// journal holds k actions, right after the k-th is written ahead and before
// its change ("k"), or right after the change ("k+"). Unset in normal use.
func crashPoint(st *hostrec.Store, applied bool) {
	v, ok := os.LookupEnv("LVS_TEST_CRASH_AT")
	if !ok {
		return
	}
	after := strings.HasSuffix(v, "+")
	k, err := strconv.Atoi(strings.TrimSuffix(v, "+"))
	if err != nil || after != applied {
		return
	}
	ents, err := st.Entries()
	if err != nil {
		return
	}
	n := 0
	for _, e := range ents {
		n += len(e.Actions)
	}
	if n == k {
		os.Exit(137)
	}
}

// KeepRA keeps router advertisements accepted where they are when IPv6
// forwarding goes on: an interface with accept_ra=1 accepts them only
// while it does not forward, so net.ipv6.conf.all.forwarding=1 would make
// it drop them and its default route would expire. Each such interface,
// and conf/default (for interfaces created later), gets accept_ra=2
// (accept even when forwarding), owned through the host's records like any
// sysctl, so the last owner out puts 1 back. Interfaces where forwarding
// is already on are left alone (they ignore RAs already); those already at
// 2 by a set-up of ours are joined. Call it before turning forwarding on.
// It returns the interfaces changed.
func (h *Host) KeepRA(j *Journal) ([]string, error) {
	dirs, err := h.confDirs(true)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, d := range dirs {
		if d == "all" {
			continue // accept_ra is per interface; all's is not used
		}
		key := ConfKey(true, d, "accept_ra")
		cur, err := h.Sysctl(key)
		if err != nil {
			continue // the interface went away
		}
		fwd, err := h.Sysctl(ConfKey(true, d, "forwarding"))
		if err != nil {
			continue
		}
		switch {
		case cur == "1" && fwd == "0":
			changed = append(changed, d)
			if err := h.ownSysctl(j, key, cur, "2", false); err != nil {
				return nil, err
			}
		case cur == "2":
			if err := h.ownSysctl(j, key, cur, "2", true); err != nil {
				return nil, err
			}
		}
	}
	return changed, nil
}

// confDirs lists net/ipv{4,6}/conf's entries: the interfaces, all and
// default.
func (h *Host) confDirs(ipv6 bool) ([]string, error) {
	var out []string
	err := h.Do(func() error {
		dir := "/proc/sys/net/ipv4/conf"
		if ipv6 {
			dir = "/proc/sys/net/ipv6/conf"
		}
		ents, err := os.ReadDir(dir)
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return err
	})
	return out, err
}
