//go:build linux

package netcfg

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Snapshot records the state set-up code touches, as "kind name" → value:
// every readable sysctl under the given /proc/sys directories (default
// net/ipv4/conf and net/ipv6/conf) plus net/ipv4/ip_forward, every device
// (type, up/down, MTU), address and fou port. Compare two snapshots with
// Diff to prove a teardown restored everything. Reading sysctls is slow
// under emulation (about 3 ms each), so tests may name fewer directories.
func (h *Host) Snapshot(sysctlDirs ...string) (map[string]string, error) {
	if len(sysctlDirs) == 0 {
		sysctlDirs = []string{"net/ipv4/conf", "net/ipv6/conf"}
	}
	m := map[string]string{}
	err := h.Do(func() error {
		for _, dir := range sysctlDirs {
			if err := validSysctl(dir); err != nil {
				return err
			}
			root := "/proc/sys/" + dir
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, rerr := os.ReadFile(p)
				if rerr == nil { // some keys (stable_secret) refuse reads
					m["sysctl "+strings.TrimPrefix(p, "/proc/sys/")] = strings.TrimSpace(string(b))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		if err == nil {
			m["sysctl net/ipv4/ip_forward"] = strings.TrimSpace(string(b))
		}
		return nil
	})
	if err != nil {
		return nil, kernelErr("snapshot sysctls", err)
	}
	links, err := h.Links()
	if err != nil {
		return nil, kernelErr("snapshot devices", err)
	}
	for _, l := range links {
		a := l.Attrs()
		m["link "+a.Name] = fmt.Sprintf("%s up=%v mtu=%d", l.Type(), a.Flags&net.FlagUp != 0, a.MTU)
	}
	addrs, err := h.Addrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		// The kernel's addrconf adds IPv6 link-local addresses on its own,
		// some time after a link comes up; nothing in the SDK adds or
		// removes them, so they would only make snapshots racy.
		if a.Prefix.Addr().IsLinkLocalUnicast() {
			continue
		}
		m["addr "+a.Dev+" "+a.Prefix.String()] = "present"
	}
	if fous, err := h.Fous(); err == nil {
		for _, f := range fous {
			m["fou "+f.String()] = "present"
		}
	}
	return m, nil
}

// Diff lists the differences between two snapshots, sorted, one line each.
func Diff(before, after map[string]string) []string {
	var out []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %s → (gone)", k, v))
		} else if w != v {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, v, w))
		}
	}
	for k, w := range after {
		if _, ok := before[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (absent) → %s", k, w))
		}
	}
	sort.Strings(out)
	return out
}
