package vm

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// peer is a Debian package whose programs the guest runs as reference peers
// of the SDK (keepalived for VRRP, BIRD for BGP, the node exporter for
// metrics). Peers are never installed on the host, where a package install
// would start a daemon on this machine's network: their .debs (and those of
// the libraries they need that the host lacks) are downloaded into the cache
// like the kernels and unpacked there.
type peer struct {
	pkg  string
	bins []string // paths inside the package, placed at the same path in the guest
}

var peers = []peer{
	{"keepalived", []string{"/usr/sbin/keepalived"}},
	{"bird2", []string{"/usr/sbin/bird", "/usr/sbin/birdc"}},
	{"prometheus-node-exporter", []string{"/usr/bin/prometheus-node-exporter"}},
}

// peerSet is the unpacked peers: the programs to place and the package
// roots their libraries may come from.
type peerSet struct {
	files []imageEntry // guest path → host path under a root
	roots []string     // unpacked package directories
}

// libDirs lists the library directories of the unpacked packages, for ldd's
// LD_LIBRARY_PATH.
func (s *peerSet) libDirs() []string {
	var dirs []string
	for _, r := range s.roots {
		for _, d := range []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib"} {
			if st, err := os.Stat(filepath.Join(r, d)); err == nil && st.IsDir() {
				dirs = append(dirs, filepath.Join(r, d))
			}
		}
	}
	return dirs
}

// guestPath maps a library ldd found to its path in the guest: a library
// from an unpacked package goes where the package would install it.
func (s *peerSet) guestPath(lib string) string {
	for _, r := range s.roots {
		if strings.HasPrefix(lib, r+"/") {
			rel := strings.TrimPrefix(lib, r)
			return path.Join(resolveDir(filepath.Dir(rel)), filepath.Base(rel))
		}
	}
	return libGuestPath(lib)
}

// fetchPeers downloads (once) and unpacks the peers' packages and, following
// their Depends, every library package ("lib…") the host has not installed.
func fetchPeers(ctx context.Context, log io.Writer, cache string) (*peerSet, error) {
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, err
	}
	set := &peerSet{}
	queue := make([]string, 0, len(peers))
	for _, p := range peers {
		queue = append(queue, p.pkg)
	}
	seen := map[string]bool{}
	updated := false
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if seen[pkg] {
			continue
		}
		seen[pkg] = true
		deb, err := findDeb(debs, pkg)
		if err != nil {
			fmt.Fprintf(log, "vm: downloading %s\n", pkg)
			err = apt(ctx, log, debs, "download", pkg)
			if err != nil && !updated {
				updated = true
				fmt.Fprintf(log, "vm: retrying after apt-get update\n")
				if err = apt(ctx, log, "", "update", "-qq"); err == nil {
					err = apt(ctx, log, debs, "download", pkg)
				}
			}
			if err != nil {
				return nil, err
			}
			if deb, err = findDeb(debs, pkg); err != nil {
				return nil, err
			}
		}
		root := filepath.Join(cache, "peers", strings.TrimSuffix(filepath.Base(deb), ".deb"))
		if _, err := os.Stat(filepath.Join(root, ".complete")); err != nil {
			tmp := root + ".tmp"
			os.RemoveAll(tmp)
			if err := os.MkdirAll(tmp, 0o755); err != nil {
				return nil, err
			}
			if err := runLogged(ctx, log, "", "dpkg-deb", "-x", deb, tmp); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
				return nil, err
			}
			os.RemoveAll(root)
			if err := os.Rename(tmp, root); err != nil {
				return nil, err
			}
		}
		set.roots = append(set.roots, root)
		out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Pre-Depends", "Depends").Output()
		if err != nil {
			return nil, fmt.Errorf("vm: dpkg-deb -f %s: %w", deb, err)
		}
		for _, dep := range debDepends(string(out)) {
			if strings.HasPrefix(dep, "lib") && !hostHasPackage(ctx, dep) {
				queue = append(queue, dep)
			}
		}
	}
	for _, p := range peers {
		deb, _ := findDeb(debs, p.pkg)
		root := filepath.Join(cache, "peers", strings.TrimSuffix(filepath.Base(deb), ".deb"))
		for _, b := range p.bins {
			set.files = append(set.files, imageEntry{guest: b, host: filepath.Join(root, b)})
		}
	}
	sort.Strings(set.roots)
	return set, nil
}

// debDepends returns the package names of a control file's Depends lines
// (the first of each set of alternatives, without versions or
// architecture qualifiers).
func debDepends(fields string) []string {
	var names []string
	for _, line := range strings.Split(fields, "\n") {
		_, list, ok := strings.Cut(line, ":")
		if !ok {
			list = line
		}
		for _, d := range strings.Split(list, ",") {
			alt, _, _ := strings.Cut(d, "|")
			name, _, _ := strings.Cut(strings.TrimSpace(alt), " ")
			name, _, _ = strings.Cut(name, ":")
			name, _, _ = strings.Cut(name, "(")
			if name = strings.TrimSpace(name); name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}

// hostHasPackage reports whether dpkg says pkg is installed on the host
// (its libraries are then found by ldd where they are).
func hostHasPackage(ctx context.Context, pkg string) bool {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && strings.Contains(string(out), "install ok installed")
}
