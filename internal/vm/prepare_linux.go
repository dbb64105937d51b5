package vm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// imageFormat changes whenever the layout of the base image changes in a way
// the hashed inputs do not capture.
const imageFormat = "5"

// hostTool is a program the harness needs on the host, and the Debian
// package that provides it.
type hostTool struct {
	name, pkg string
}

var hostTools = []hostTool{
	{"qemu-system-x86_64", "qemu-system-x86"},
	{"busybox", "busybox-static"},
	{"kmod", "kmod"},
	{"depmod", "kmod"},
	{"ip", "iproute2"},
	{"bash", "bash"},
	{"ipvsadm", "ipvsadm"},
	{"xtables-nft-multi", "iptables"},
	{"xtables-legacy-multi", "iptables"},
	{"nft", "nftables"},
	{"arptables-legacy", "arptables"},
	{"dpkg-deb", "dpkg"},
	{"apt-get", "apt"},
	{"ldd", "libc-bin"},
}

// lookTool finds a tool in the usual system directories as well as PATH (a
// non-login root shell may lack the sbin directories).
func lookTool(name string) (string, error) {
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// EnsureTools installs, with apt-get, the Debian packages providing any
// missing host tool the harness needs or any in extra, which maps a tool
// name or an absolute file path to its package (e.g. "gcc": "gcc",
// "/usr/include/stdio.h": "libc6-dev").
func EnsureTools(ctx context.Context, log io.Writer, extra map[string]string) error {
	var missing []string
	seen := map[string]bool{}
	check := func(name, pkg string) {
		var err error
		if strings.HasPrefix(name, "/") {
			_, err = os.Stat(name)
		} else {
			_, err = lookTool(name)
		}
		if err != nil && !seen[pkg] {
			seen[pkg] = true
			missing = append(missing, pkg)
		}
	}
	for _, t := range hostTools {
		check(t.name, t.pkg)
	}
	for name, pkg := range extra {
		check(name, pkg)
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	if os.Geteuid() != 0 {
		return fmt.Errorf("vm: missing host packages %v and not root to install them", missing)
	}
	fmt.Fprintf(log, "vm: installing %s\n", strings.Join(missing, " "))
	if err := apt(ctx, log, "", "update", "-qq"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)
	return apt(ctx, log, "", args...)
}

// apt runs apt-get, waiting for the package manager's locks when another
// apt or dpkg holds them (as on a machine that is still installing).
func apt(ctx context.Context, log io.Writer, dir string, args ...string) error {
	args = append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if bytes.Contains(out, []byte("Could not get lock")) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(3 * time.Second):
				continue
			}
		}
		log.Write(out)
		return fmt.Errorf("vm: apt-get %s: %w", strings.Join(args, " "), err)
	}
}

// runLogged runs a command, sending its output to log only when it fails.
func runLogged(ctx context.Context, log io.Writer, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Write(out)
		return fmt.Errorf("vm: %s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// Prepare makes kernel ready to boot: it installs missing host packages,
// downloads and unpacks the kernel's Debian package, and builds the base
// initramfs, reusing the cache when its inputs have not changed. Progress
// goes to log. Concurrent Prepare calls (even from other processes) are
// serialized by a lock in the cache directory.
func Prepare(ctx context.Context, kernel string, log io.Writer) (*Image, error) {
	if log == nil {
		log = io.Discard
	}
	meta, err := metaPackage(kernel)
	if err != nil {
		return nil, err
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockDir(cache)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := EnsureTools(ctx, log, nil); err != nil {
		return nil, err
	}
	pkg, err := resolveImagePackage(ctx, log, cache, kernel, meta)
	if err != nil {
		return nil, err
	}
	release := strings.TrimPrefix(pkg, "linux-image-")
	kdir := filepath.Join(cache, "kernels", release)
	if _, err := os.Stat(filepath.Join(kdir, ".complete")); err != nil {
		if err := fetchKernel(ctx, log, cache, pkg, release, kdir); err != nil {
			return nil, err
		}
	}
	im := &Image{
		Kernel:  kernel,
		Release: release,
		Vmlinuz: filepath.Join(kdir, "boot", "vmlinuz-"+release),
	}
	ps, err := fetchPeers(ctx, log, cache)
	if err != nil {
		return nil, err
	}
	if im.Initrd, err = baseImage(ctx, log, kdir, release, ps); err != nil {
		return nil, err
	}
	return im, nil
}

func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// resolveImagePackage asks apt which image package the meta package depends
// on today. Without usable apt lists it refreshes them once; when apt cannot
// answer at all (offline) it falls back to the last release it resolved.
func resolveImagePackage(ctx context.Context, log io.Writer, cache, kernel, meta string) (string, error) {
	last := filepath.Join(cache, "resolved-"+kernel)
	for attempt := 0; attempt < 2; attempt++ {
		if attempt == 1 {
			fmt.Fprintf(log, "vm: apt-get update\n")
			if err := apt(ctx, log, "", "update", "-qq"); err != nil {
				break
			}
		}
		out, err := exec.CommandContext(ctx, "apt-cache", "depends", meta).Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-"+kernel+".") {
				os.WriteFile(last, []byte(f[1]), 0o644)
				return f[1], nil
			}
		}
	}
	if b, err := os.ReadFile(last); err == nil {
		fmt.Fprintf(log, "vm: apt cannot resolve %s; using cached %s\n", meta, b)
		return string(b), nil
	}
	return "", fmt.Errorf("vm: cannot resolve the image package of %s with apt-cache", meta)
}

// fetchKernel downloads, unpacks and depmods pkg into kdir.
func fetchKernel(ctx context.Context, log io.Writer, cache, pkg, release, kdir string) error {
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	deb, err := findDeb(debs, pkg)
	if err != nil {
		fmt.Fprintf(log, "vm: downloading %s\n", pkg)
		if err := apt(ctx, log, debs, "download", pkg); err != nil {
			fmt.Fprintf(log, "vm: retrying after apt-get update\n")
			if err := apt(ctx, log, "", "update", "-qq"); err != nil {
				return err
			}
			if err := apt(ctx, log, debs, "download", pkg); err != nil {
				return err
			}
		}
		if deb, err = findDeb(debs, pkg); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "vm: unpacking %s\n", filepath.Base(deb))
	tmp := kdir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if err := runLogged(ctx, log, "", "dpkg-deb", "-x", deb, tmp); err != nil {
		return err
	}
	// Usr-merged packages put modules under usr/lib; depmod -b wants lib/.
	if _, err := os.Stat(filepath.Join(tmp, "lib", "modules", release)); err != nil {
		if _, err2 := os.Stat(filepath.Join(tmp, "usr", "lib", "modules", release)); err2 == nil {
			os.MkdirAll(filepath.Join(tmp, "lib"), 0o755)
			if err := os.Rename(filepath.Join(tmp, "usr", "lib", "modules"), filepath.Join(tmp, "lib", "modules")); err != nil {
				return err
			}
		}
	}
	if err := decompressModules(ctx, log, tmp); err != nil {
		return err
	}
	depmod, err := lookTool("depmod")
	if err != nil {
		return err
	}
	if err := runLogged(ctx, log, "", depmod, "-b", tmp, release); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return err
	}
	os.RemoveAll(kdir)
	return os.Rename(tmp, kdir)
}

// decompressModules turns compressed modules (.ko.xz, .ko.zst, .ko.gz) into
// plain .ko files. kmod 30 would otherwise decompress each one in user space
// at every boot, which costs seconds under emulation; depmod then indexes the
// plain names.
func decompressModules(ctx context.Context, log io.Writer, root string) error {
	byExt := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz"} {
			if d.Type().IsRegular() && strings.HasSuffix(p, ext) {
				byExt[ext] = append(byExt[ext], p)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	tools := map[string][]string{ // ext → command, package
		".ko.xz":  {"xz", "xz-utils", "-d", "-q", "-T0"},
		".ko.zst": {"zstd", "zstd", "-d", "-q", "--rm"},
		".ko.gz":  {"gzip", "gzip", "-d", "-q"},
	}
	for ext, files := range byExt {
		t := tools[ext]
		fmt.Fprintf(log, "vm: decompressing %d %s modules\n", len(files), ext)
		if err := EnsureTools(ctx, log, map[string]string{t[0]: t[1]}); err != nil {
			return err
		}
		for i := 0; i < len(files); i += 200 {
			args := append(append([]string{}, t[2:]...), files[i:min(i+200, len(files))]...)
			if err := runLogged(ctx, log, "", t[0], args...); err != nil {
				return err
			}
		}
	}
	return nil
}

func findDeb(dir, pkg string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) == 0 {
		return "", fmt.Errorf("vm: %s: no .deb in %s", pkg, dir)
	}
	sort.Strings(m)
	return m[len(m)-1], nil
}

// imageEntry is one file of the base image: host source → guest path.
type imageEntry struct {
	guest, host string
}

// imagePlan lists everything that goes into the base image except modules.
type imagePlan struct {
	files    []imageEntry
	symlinks map[string]string // guest path → target
	trees    []imageEntry      // host directories copied whole
}

// toolLinks returns the symlinks to multi-call binaries, guest name → binary.
func toolLinks() map[string]string {
	links := map[string]string{
		"/usr/sbin/modprobe": "/usr/bin/kmod", "/usr/sbin/insmod": "/usr/bin/kmod",
		"/usr/sbin/rmmod": "/usr/bin/kmod", "/usr/sbin/lsmod": "/usr/bin/kmod",
		"/usr/sbin/depmod": "/usr/bin/kmod", "/usr/sbin/modinfo": "/usr/bin/kmod",
		"/sbin/modprobe": "/usr/sbin/modprobe", "/sbin/ip": "/usr/sbin/ip",
		"/usr/bin/ip": "/usr/sbin/ip", "/bin/bash": "/usr/bin/bash",
	}
	for _, v := range []string{"iptables", "ip6tables", "arptables", "ebtables"} {
		for _, s := range []string{"", "-save", "-restore"} {
			links["/usr/sbin/"+v+s] = "xtables-nft-multi"
			links["/usr/sbin/"+v+"-nft"+s] = "xtables-nft-multi"
			if v == "iptables" || v == "ip6tables" {
				links["/usr/sbin/"+v+"-legacy"+s] = "xtables-legacy-multi"
			}
		}
	}
	links["/usr/sbin/xtables-monitor"] = "xtables-nft-multi"
	links["/usr/sbin/iptables-translate"] = "xtables-nft-multi"
	links["/usr/sbin/ip6tables-translate"] = "xtables-nft-multi"
	return links
}

func planImage() (*imagePlan, error) {
	p := &imagePlan{symlinks: map[string]string{}}
	bins := map[string]string{ // guest path → tool name
		"/bin/busybox":                   "busybox",
		"/usr/bin/kmod":                  "kmod",
		"/usr/sbin/ip":                   "ip",
		"/usr/bin/bash":                  "bash",
		"/usr/sbin/ipvsadm":              "ipvsadm",
		"/usr/sbin/xtables-nft-multi":    "xtables-nft-multi",
		"/usr/sbin/xtables-legacy-multi": "xtables-legacy-multi",
		"/usr/sbin/nft":                  "nft",
		"/usr/sbin/arptables-legacy":     "arptables-legacy",
	}
	for guest, name := range bins {
		host, err := lookTool(name)
		if err != nil {
			return nil, fmt.Errorf("vm: host tool %s: %w", name, err)
		}
		p.files = append(p.files, imageEntry{guest, host})
	}
	for k, v := range toolLinks() {
		p.symlinks[k] = v
	}
	// Mirror the host's /lib and /lib64 symlinks so that ELF interpreters
	// and library paths resolve the same way in the guest.
	for _, d := range []string{"/lib", "/lib64", "/lib32", "/libx32"} {
		if t, err := os.Readlink(d); err == nil {
			p.symlinks[d] = t
		}
	}
	p.symlinks["/var/run"] = "../run"
	const xt = "/usr/lib/x86_64-linux-gnu/xtables"
	if st, err := os.Stat(xt); err == nil && st.IsDir() {
		p.trees = append(p.trees, imageEntry{xt, xt})
	}
	for _, d := range []string{"/usr/share/iproute2", "/etc/iproute2", "/usr/lib/iproute2"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			p.trees = append(p.trees, imageEntry{d, d})
		}
	}
	for _, f := range []string{"/etc/protocols", "/etc/services", "/etc/ethertypes", "/etc/nftables.conf"} {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			p.files = append(p.files, imageEntry{f, f})
		}
	}
	sort.Slice(p.files, func(i, j int) bool { return p.files[i].guest < p.files[j].guest })
	return p, nil
}

// etcFiles are written into every image (host copies win for the optional
// ones listed in planImage).
var etcFiles = map[string]string{
	"/etc/passwd":        "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
	"/etc/group":         "root:x:0:\nnogroup:x:65534:\n",
	"/etc/hosts":         "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
	"/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n",
	"/etc/resolv.conf":   "",
	"/etc/hostname":      "lvs-vm\n",
}

// sharedLibs returns the shared libraries (host paths as ldd prints them)
// that the dynamically linked ELF files among paths need, looking in libPath
// before the host's directories. A library ldd cannot find is an error: the
// program would not start in the guest.
func sharedLibs(ctx context.Context, paths []string, libPath []string) ([]string, error) {
	var dyn []string
	for _, p := range paths {
		f, err := elf.Open(p)
		if err != nil {
			continue // not ELF
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
				dyn = append(dyn, p)
				break
			}
		}
		f.Close()
	}
	if len(dyn) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	var libs []string
	for i := 0; i < len(dyn); i += 64 {
		batch := dyn[i:min(i+64, len(dyn))]
		cmd := exec.CommandContext(ctx, "ldd", batch...)
		if len(libPath) > 0 {
			cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+strings.Join(libPath, ":"))
		}
		out, err := cmd.Output()
		if err != nil && len(out) == 0 {
			return nil, fmt.Errorf("vm: ldd %v: %w", batch, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			var lib string
			switch {
			case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
				return nil, fmt.Errorf("vm: ldd %v: %s not found", batch, f[0])
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				lib = f[2]
			case len(f) >= 1 && strings.HasPrefix(f[0], "/") && !strings.HasSuffix(f[0], ":"):
				lib = f[0]
			}
			if lib != "" && !seen[lib] {
				seen[lib] = true
				libs = append(libs, lib)
			}
		}
	}
	sort.Strings(libs)
	return libs, nil
}

// libGuestPath keeps the library at the path the loader looks for, with the
// directory's symlinks resolved (the guest mirrors /lib and /lib64).
func libGuestPath(lib string) string {
	return path.Join(resolveDir(filepath.Dir(lib)), filepath.Base(lib))
}

// resolveDir resolves the symlinks of a host directory, or returns it as is.
func resolveDir(dir string) string {
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		return d
	}
	return dir
}

// moduleSet returns the module files (relative to the release's module
// directory) to put in the image: moduleDirs (less moduleSkip), the
// preload list, and all their dependencies according to modules.dep.
func moduleSet(moddir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(moddir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	byName := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
		byName[modName(mod)] = mod
	}
	want := map[string]bool{}
	var add func(string)
	add = func(m string) {
		if want[m] {
			return
		}
		want[m] = true
		for _, d := range deps[m] {
			add(d)
		}
	}
	for mod := range deps {
		rel := strings.TrimPrefix(mod, "kernel/")
		skip := false
		for _, d := range moduleSkip {
			skip = skip || strings.HasPrefix(rel, d)
		}
		if skip {
			continue
		}
		for _, d := range moduleDirs {
			if strings.HasPrefix(rel, d) && (strings.HasSuffix(d, "/") || modName(rel) == path.Base(d)) {
				add(mod)
			}
		}
	}
	for _, name := range preload {
		if m, ok := byName[strings.ReplaceAll(name, "-", "_")]; ok {
			add(m)
		}
	}
	out := make([]string, 0, len(want))
	for m := range want {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

// modName turns "kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz" into "ip_vs_rr".
func modName(p string) string {
	base := path.Base(p)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// baseImage returns the cached base initramfs for the kernel in kdir,
// building it when the hash of its inputs changed.
func baseImage(ctx context.Context, log io.Writer, kdir, release string, ps *peerSet) (string, error) {
	plan, err := planImage()
	if err != nil {
		return "", err
	}
	plan.files = append(plan.files, ps.files...)
	moddir := filepath.Join(kdir, "lib", "modules", release)
	mods, err := moduleSet(moddir)
	if err != nil {
		return "", err
	}
	var hostFiles []string
	for _, f := range plan.files {
		hostFiles = append(hostFiles, f.host)
	}
	for _, t := range plan.trees {
		filepath.WalkDir(t.host, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				hostFiles = append(hostFiles, p)
			}
			return nil
		})
	}
	libs, err := sharedLibs(ctx, hostFiles, ps.libDirs())
	if err != nil {
		return "", err
	}

	h := sha256.New()
	fmt.Fprintf(h, "format %s\nrelease %s\ninit %s\n", imageFormat, release, initScript())
	stamp := func(p string) {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", p, st.Size(), st.ModTime().UnixNano())
		} else {
			fmt.Fprintf(h, "%s missing\n", p)
		}
	}
	for _, f := range plan.files {
		fmt.Fprintf(h, "file %s ", f.guest)
		stamp(f.host)
	}
	for _, f := range hostFiles {
		stamp(f)
	}
	for _, l := range libs {
		stamp(l)
	}
	keys := make([]string, 0, len(plan.symlinks))
	for k := range plan.symlinks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "link %s %s\n", k, plan.symlinks[k])
	}
	etcKeys := make([]string, 0, len(etcFiles))
	for k := range etcFiles {
		etcKeys = append(etcKeys, k)
	}
	sort.Strings(etcKeys) // map order would change the hash on every run
	for _, k := range etcKeys {
		fmt.Fprintf(h, "etc %s %q\n", k, etcFiles[k])
	}
	fmt.Fprintf(h, "modules %v\n", mods)
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(kdir, "base-"+sum+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}

	fmt.Fprintf(log, "vm: building base image for %s (%d modules)\n", release, len(mods))
	old, _ := filepath.Glob(filepath.Join(kdir, "base-*.cpio*"))
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	// Uncompressed: under emulation the kernel unpacks a plain archive
	// about a second faster than a gzip'd one, and disk is cheap.
	c := newCPIOWriter(f)
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/root", "/mnt", "/sbin", "/usr/local/bin", "/lvs/bin", "/etc"} {
		c.Dir(d, 0o755)
	}
	c.Dir("/tmp", 0o1777)
	for _, k := range keys {
		// Directory symlinks (/lib → usr/lib) go first so nothing
		// creates a real directory in their place.
		if strings.Count(k, "/") == 1 {
			c.Symlink(k, plan.symlinks[k])
		}
	}
	c.Bytes("/init", 0o755, []byte(initScript()))
	for _, k := range etcKeys {
		c.Bytes(k, 0o644, []byte(etcFiles[k]))
	}
	for _, f := range plan.files {
		if err := c.File(f.guest, f.host); err != nil {
			return "", err
		}
	}
	for _, t := range plan.trees {
		if err := c.Tree(t.guest, t.host); err != nil {
			return "", err
		}
	}
	for _, l := range libs {
		if err := c.File(ps.guestPath(l), l); err != nil {
			return "", err
		}
	}
	for _, k := range keys {
		if strings.Count(k, "/") > 1 {
			c.Symlink(k, plan.symlinks[k])
		}
	}
	// busybox applets, except where a real tool of the same name exists.
	bb, _ := lookTool("busybox")
	list, err := exec.CommandContext(ctx, bb, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("vm: busybox --list: %w", err)
	}
	real := map[string]bool{}
	for _, f := range plan.files {
		real[path.Base(f.guest)] = true
	}
	for k := range plan.symlinks {
		real[path.Base(k)] = true
	}
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || name == "busybox" || real[name] {
			continue
		}
		c.Symlink("/bin/"+name, "busybox")
	}
	// Modules, kept at the canonical path the guest's /lib resolves to.
	gmod := path.Join(resolveDir("/lib"), "modules", release)
	for _, m := range mods {
		if err := c.File(path.Join(gmod, m), filepath.Join(moddir, m)); err != nil {
			return "", err
		}
	}
	idx, _ := filepath.Glob(filepath.Join(moddir, "modules.*"))
	for _, p := range idx {
		if err := c.File(path.Join(gmod, filepath.Base(p)), p); err != nil {
			return "", err
		}
	}
	if err := c.Close(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	// Drop superseded images, but only old ones: another process may be
	// about to boot the image it prepared a moment ago.
	for _, o := range old {
		if st, err := os.Stat(o); err == nil && o != out && time.Since(st.ModTime()) > time.Hour {
			os.Remove(o)
		}
	}
	return out, nil
}

var errNoStatus = errors.New("vm: the guest ended without reporting the script's exit status (kernel panic, crash or timeout)")
