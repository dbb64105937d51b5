package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Nested modules: directories below the core module with their own go.mod
// (bgp/, examples/bgp/: they keep GoBGP's dependencies out of the core
// SDK's). The go tool stops at a nested go.mod, so "./..." in the core
// module never reaches them; vmtest lists, vets, tests and builds their
// packages from their own directory instead. Only modules with tests take
// part (internal/bench/moby has none).

// modGroup is a set of package patterns of one module, relative to its
// directory dir (absolute).
type modGroup struct {
	dir  string
	pkgs []string
}

// moduleRoot returns the core module's directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// nestedModules returns the absolute directories of the modules nested
// below root that hold test files, deepest first.
func nestedModules(root string) ([]string, error) {
	var mods []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() && p != root {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil && hasTests(p) {
				mods = append(mods, p)
			}
		}
		return nil
	})
	sort.Slice(mods, func(i, j int) bool { return len(mods[i]) > len(mods[j]) })
	return mods, err
}

// hasTests tells whether dir's tree has a _test.go file.
func hasTests(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// moduleOf returns the module directory a root-relative package path or
// pattern ("./bgp", "./examples/bgp/...") falls in, and the path relative
// to that module ("./", "./..."); mods as nestedModules returns them.
func moduleOf(root string, mods []string, pkg string) (string, string) {
	abs := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(pkg, "/...")))
	for _, m := range mods {
		if abs == m || strings.HasPrefix(abs, m+string(filepath.Separator)) {
			rel, _ := filepath.Rel(m, abs)
			out := "."
			if rel != "." {
				out = "./" + filepath.ToSlash(rel)
			}
			if strings.HasSuffix(pkg, "/...") {
				out += "/..."
			}
			return m, out
		}
	}
	return root, pkg
}

// byModule splits the package patterns by module: the core module's first
// (dir root), then each nested module's. "./..." also means every nested
// module's "./...".
func byModule(root string, pkgs []string) ([]modGroup, error) {
	mods, err := nestedModules(root)
	if err != nil {
		return nil, err
	}
	groups := map[string][]string{}
	add := func(dir, p string) {
		for _, q := range groups[dir] {
			if q == p {
				return
			}
		}
		groups[dir] = append(groups[dir], p)
	}
	for _, p := range pkgs {
		if p == "./..." {
			add(root, p)
			for _, m := range mods {
				add(m, "./...")
			}
			continue
		}
		if !strings.HasPrefix(p, "./") && p != "." {
			add(root, p) // an import path: the core module's
			continue
		}
		dir, rel := moduleOf(root, mods, p)
		add(dir, rel)
	}
	var out []modGroup
	if g, ok := groups[root]; ok {
		out = append(out, modGroup{dir: root, pkgs: g})
	}
	for _, m := range mods {
		if g, ok := groups[m]; ok {
			out = append(out, modGroup{dir: m, pkgs: g})
		}
	}
	return out, nil
}

// unitGroups is byModule for the host's vet and unit tests.
func unitGroups(ctx context.Context, pkgs []string) ([]modGroup, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	return byModule(root, pkgs)
}

// buildTarget returns where to run go build for a vmbuild.txt entry (a
// root-relative package path) and the package path there.
func buildTarget(root, pkg string) (string, string) {
	mods, err := nestedModules(root)
	if err != nil {
		return root, pkg
	}
	return moduleOf(root, mods, pkg)
}
