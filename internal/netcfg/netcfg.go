package netcfg

import (
	"errors"
	"fmt"
	"github.com/golvs/lvs/internal/errs"
	"net/netip"
	"strconv"
	"strings"
)

// pkg prefixes netcfg's errors. They are *errs.Error values of the SDK's
// one vocabulary (a missing device is errs.ErrNotExist, a missing module
// errs.ErrUnavailable, a closed Host errs.ErrClosed), so the public
// packages hand them on with errs.Wrap and translate nothing.
const pkg = "netcfg"

// kernelErr is an error of a kernel or OS call, classified by its cause.
func kernelErr(op string, err error) error {
	return &errs.Error{Pkg: pkg, Op: op, Kind: errs.Classify(err), Err: err}
}

func noDevice(name, where string) error {
	return &errs.Error{Pkg: pkg, Op: "device " + name + " in " + where, Kind: errs.ErrNotExist}
}

// Journal records undo steps in order. The zero value is ready to use and
// records plain steps; a Journal from Host.Change also takes part in the
// host's ownership records (see Change). It is not safe for concurrent use.
type Journal struct {
	steps []step
	tx    *tx // nil: no ownership records
}

type step struct {
	desc string
	undo func() error
	// join marks a step that only adds this owner's token to a resource
	// another set-up of the same owner already holds: a set-up made only
	// of such steps changed nothing and records nothing.
	join bool
}

// Record appends an undo step; desc says what the step restores, e.g.
// "remove address 10.0.0.1/32 from lo".
func (j *Journal) Record(desc string, undo func() error) {
	j.steps = append(j.steps, step{desc: desc, undo: undo})
}

// Append moves sub's steps to the end of j, in order, and empties sub.
// Recording into a sub-journal lets a caller record a step that must be
// undone after them (an enclosing object) once it knows it is needed.
func (j *Journal) Append(sub *Journal) {
	j.steps = append(j.steps, sub.steps...)
	sub.steps = nil
}

// Sub returns an empty journal that records into the same ownership
// transaction as j, for use with Append.
func (j *Journal) Sub() *Journal { return &Journal{tx: j.tx} }

// Len is the number of recorded steps.
func (j *Journal) Len() int { return len(j.steps) }

// Changed reports whether j holds a step other than a same-owner join.
func (j *Journal) Changed() bool {
	for _, s := range j.steps {
		if !s.join {
			return true
		}
	}
	return false
}

// Steps describes the recorded steps in the order they would be undone.
func (j *Journal) Steps() []string {
	out := make([]string, 0, len(j.steps))
	for i := len(j.steps) - 1; i >= 0; i-- {
		out = append(out, j.steps[i].desc)
	}
	return out
}

// Undo runs the steps in reverse order and empties the journal. A failing
// step does not stop the others (leaving less behind is better than
// stopping); the failures are joined, each prefixed with its description.
func (j *Journal) Undo() error {
	var errs []error
	for i := len(j.steps) - 1; i >= 0; i-- {
		if err := j.steps[i].undo(); err != nil {
			errs = append(errs, fmt.Errorf("undo: %s: %w", j.steps[i].desc, err))
		}
	}
	j.steps = nil
	return errors.Join(errs...)
}

// Run calls f and, if f fails, undoes every step recorded so far (including
// those recorded before Run) and returns f's error joined with any undo
// failure.
func (j *Journal) Run(f func() error) error {
	err := f()
	if err == nil {
		return nil
	}
	if uerr := j.Undo(); uerr != nil {
		return errors.Join(err, fmt.Errorf("%w: %w", errs.ErrRollback, uerr))
	}
	return err
}

// Rule is how the kernel combines conf/all and conf/IFACE for a key.
type Rule int

const (
	// RuleIface: only conf/IFACE matters.
	RuleIface Rule = iota
	// RuleMax: the effective value is max(all, IFACE)
	// (arp_ignore, arp_announce, rp_filter).
	RuleMax
	// RuleOr: on if either is non-zero (send_redirects, arp_filter,
	// proxy_arp, shared_media, log_martians).
	RuleOr
)

// RuleFor returns the IPv4 combination rule for a conf key, as in the
// kernel's IN_DEV_*CONF macros (include/linux/inetdevice.h).
func RuleFor(key string) Rule {
	switch key {
	case "arp_ignore", "arp_announce", "rp_filter":
		return RuleMax
	case "send_redirects", "arp_filter", "proxy_arp", "shared_media", "log_martians":
		return RuleOr
	}
	return RuleIface
}

// Combine returns the value in effect on an interface for key, given the
// conf/all and conf/IFACE values.
func Combine(key string, all, iface int) int {
	switch RuleFor(key) {
	case RuleMax:
		return max(all, iface)
	case RuleOr:
		if all != 0 || iface != 0 {
			return 1
		}
		return 0
	}
	return iface
}

// ConfKey is the sysctl path (relative to /proc/sys) of an interface conf
// key: net/ipv4/conf/IFACE/KEY or net/ipv6/conf/IFACE/KEY. iface may be
// "all" or "default". Slashes are used because interface names may contain
// dots.
func ConfKey(ipv6 bool, iface, key string) string {
	fam := "ipv4"
	if ipv6 {
		fam = "ipv6"
	}
	return "net/" + fam + "/conf/" + iface + "/" + key
}

// validSysctl rejects keys that would escape /proc/sys.
func validSysctl(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") || strings.ContainsAny(key, "\x00") {
		return &errs.Error{Pkg: pkg, Op: "sysctl", Kind: errs.ErrInvalid, Err: fmt.Errorf("invalid sysctl name %q", key)}
	}
	return nil
}

// parseInt reads a single-integer sysctl value.
func parseInt(key, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, &errs.Error{Pkg: pkg, Op: "sysctl " + key, Kind: errs.ErrInvalid, Err: fmt.Errorf("%q is not an integer", s)}
	}
	return n, nil
}

// HostPrefix reports whether p is a single-address prefix (/32 or /128).
func HostPrefix(p netip.Prefix) bool {
	return p.IsValid() && p.Bits() == p.Addr().BitLen()
}
