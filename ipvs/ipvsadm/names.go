package ipvsadm

import (
	"bufio"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/golvs/lvs/ipvs"
)

// Name lookups read /etc/hosts and /etc/services only: resolving through
// DNS could send packets out of the namespace and hang without a network.

func lookupHost(name string) (netip.Addr, bool) {
	var found netip.Addr
	scanFile("/etc/hosts", func(f []string) bool {
		a, err := netip.ParseAddr(f[0])
		if err != nil || !a.Is4() {
			return false
		}
		for _, n := range f[1:] {
			if n == name {
				found = a
				return true
			}
		}
		return false
	})
	return found, found.IsValid()
}

// protoName is the protocol's name in /etc/services, "" for none.
func protoName(p ipvs.Protocol) string {
	switch p {
	case ipvs.TCP, ipvs.UDP, ipvs.SCTP:
		return strings.ToLower(p.String())
	}
	return ""
}

func lookupService(name string, p ipvs.Protocol) (uint16, bool) {
	pn := protoName(p)
	if pn == "" {
		return 0, false
	}
	var port uint16
	ok := false
	scanFile("/etc/services", func(f []string) bool {
		num, proto, _ := strings.Cut(f[1], "/")
		if proto != pn {
			return false
		}
		for _, n := range append([]string{f[0]}, f[2:]...) {
			if n == name {
				v, err := strconv.ParseUint(num, 10, 16)
				if err == nil {
					port, ok = uint16(v), true
					return true
				}
			}
		}
		return false
	})
	return port, ok
}

func serviceName(port uint16, p ipvs.Protocol) (string, bool) {
	pn := protoName(p)
	if pn == "" {
		return "", false
	}
	want := strconv.Itoa(int(port)) + "/" + pn
	name := ""
	scanFile("/etc/services", func(f []string) bool {
		if f[1] == want {
			name = f[0]
			return true
		}
		return false
	})
	return name, name != ""
}

func hostName(a netip.Addr) (string, bool) {
	name := ""
	scanFile("/etc/hosts", func(f []string) bool {
		h, err := netip.ParseAddr(f[0])
		// An IPv6 entry's mapped address matches only a line written so,
		// as in glibc's files backend (it does not unmap).
		if err == nil && h == a {
			name = f[1]
			return true
		}
		return false
	})
	return name, name != ""
}

// scanFile calls fn with the fields (comments removed) of each line with
// at least two fields until fn returns true.
func scanFile(path string, fn func(f []string) bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) >= 2 && fn(fs) {
			return
		}
	}
}
