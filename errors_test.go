package lvs_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/errs/sentinelgen"
	"github.com/golvs/lvs/realserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publicPackages are the packages that return errors to users; each must
// speak internal/errs' vocabulary.
var publicPackages = []string{"ipvs", "ipvs/ipvsadm", "director", "realserver", "fwmark", "health", "failover", "failover/vrrp", "metrics", "bgp"}

const errsPath = "github.com/golvs/lvs/internal/errs"

// sentinelNames are the names of errs.All()'s values, read from the
// source of internal/errs: the names every package re-exports.
func sentinelNames(t *testing.T) []string {
	t.Helper()
	var names []string
	decls := parseDir(t, "internal/errs")
	for _, d := range decls.vars {
		if strings.HasPrefix(d.name, "Err") {
			names = append(names, d.name)
		}
	}
	require.Len(t, names, len(errs.All()), "every sentinel of internal/errs is in All()")
	return names
}

type varDecl struct {
	name string
	// value is "errs.NAME" (with errs the file's name for internal/errs)
	// when the value is a selector of internal/errs, else "".
	value string
	pos   string
}

type pkgDecls struct {
	vars        []varDecl
	errorIsErrs bool // type Error = errs.Error
	errorDecl   string
}

// parseDir reads the top-level declarations of a package's non-test files.
func parseDir(t *testing.T, dir string) pkgDecls {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	fset := token.NewFileSet()
	var out pkgDecls
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		errsName := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == errsPath {
				errsName = "errs"
				if imp.Name != nil {
					errsName = imp.Name.Name
				}
			}
		}
		isErrs := func(e ast.Expr, name string) bool {
			sel, ok := e.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != name {
				return false
			}
			id, ok := sel.X.(*ast.Ident)
			return ok && errsName != "" && id.Name == errsName
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range g.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					if g.Tok != token.VAR {
						continue
					}
					for i, id := range s.Names {
						v := varDecl{name: id.Name, pos: fset.Position(id.Pos()).String()}
						if i < len(s.Values) && isErrs(s.Values[i], id.Name) {
							v.value = "errs." + id.Name
						}
						out.vars = append(out.vars, v)
					}
				case *ast.TypeSpec:
					if s.Name.Name == "Error" {
						out.errorDecl = fset.Position(s.Pos()).String()
						out.errorIsErrs = s.Assign.IsValid() && isErrs(s.Type, "Error")
					}
				}
			}
		}
	}
	return out
}

// Each public package declares `type Error = errs.Error` and re-exports
// every sentinel of internal/errs as the same value (`ErrX = errs.ErrX`),
// and no sentinel of its own: then errors.Is(err, ipvs.ErrPermission)
// matches a director error, since the values are one. Table-driven over
// the packages, so that a failure names the package that is not there yet.
func TestOneErrorVocabulary(t *testing.T) {
	names := sentinelNames(t)
	for _, p := range publicPackages {
		t.Run(strings.ReplaceAll(p, "/", "_"), func(t *testing.T) {
			d := parseDir(t, p)
			assert.True(t, d.errorIsErrs, "%s: want `type Error = errs.Error`, have %s", p, d.errorDecl)
			have := map[string]varDecl{}
			for _, v := range d.vars {
				if strings.HasPrefix(v.name, "Err") {
					have[v.name] = v
				}
			}
			for _, n := range names {
				v, ok := have[n]
				if assert.True(t, ok, "%s does not re-export errs.%s", p, n) {
					assert.Equal(t, "errs."+n, v.value, "%s: %s is not errs.%s", v.pos, n, n)
				}
			}
			for n, v := range have {
				assert.True(t, slices.Contains(names, n), "%s: sentinel %s is not one of internal/errs'", v.pos, n)
			}
		})
	}
}

// Each package's sentinels.go is what `go generate` writes from
// internal/errs today, and the generator covers every public package.
func TestSentinelFilesGenerated(t *testing.T) {
	assert.ElementsMatch(t, publicPackages, sentinelgen.Packages)
	src, err := os.ReadFile(filepath.Join("internal", "errs", "errs.go"))
	require.NoError(t, err)
	sentinels, err := sentinelgen.Parse(src)
	require.NoError(t, err)
	require.Len(t, sentinels, len(errs.All()))
	for _, p := range sentinelgen.Packages {
		want, err := sentinelgen.Render(path.Base(p), sentinels)
		require.NoError(t, err)
		have, err := os.ReadFile(filepath.Join(filepath.FromSlash(p), sentinelgen.FileName))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(have), "%s/%s is stale: run go generate at the module root", p, sentinelgen.FileName)
	}
}

// The same, at run time, for the packages this test can import whatever
// the state of the others: each sentinel matches the same sentinel of
// every other package, and only that one.
func TestSentinelsMatchAcrossPackages(t *testing.T) {
	sets := map[string][]error{
		"errs": errs.All(),
		"director": {director.ErrInvalid, director.ErrNotExist, director.ErrExist, director.ErrConflict,
			director.ErrIneffective, director.ErrPermission, director.ErrNotSupported, director.ErrUnavailable,
			director.ErrBusy, director.ErrCanceled, director.ErrClosed, director.ErrRollback,
			director.ErrCheckFailed, director.ErrKernel},
		"realserver": {realserver.ErrInvalid, realserver.ErrNotExist, realserver.ErrExist, realserver.ErrConflict,
			realserver.ErrIneffective, realserver.ErrPermission, realserver.ErrNotSupported, realserver.ErrUnavailable,
			realserver.ErrBusy, realserver.ErrCanceled, realserver.ErrClosed, realserver.ErrRollback,
			realserver.ErrCheckFailed, realserver.ErrKernel},
		"fwmark": {fwmark.ErrInvalid, fwmark.ErrNotExist, fwmark.ErrExist, fwmark.ErrConflict,
			fwmark.ErrIneffective, fwmark.ErrPermission, fwmark.ErrNotSupported, fwmark.ErrUnavailable,
			fwmark.ErrBusy, fwmark.ErrCanceled, fwmark.ErrClosed, fwmark.ErrRollback,
			fwmark.ErrCheckFailed, fwmark.ErrKernel},
	}
	for a, as := range sets {
		for b, bs := range sets {
			require.Len(t, as, len(bs))
			for i := range as {
				for j := range bs {
					assert.Equal(t, i == j, errors.Is(as[i], bs[j]), "%s %v vs %s %v", a, as[i], b, bs[j])
				}
			}
		}
	}
	// An error of one package matches the sentinels of the others.
	err := error(&director.Error{Pkg: "director", Op: "add VIP", Kind: director.ErrPermission})
	assert.ErrorIs(t, err, realserver.ErrPermission)
	assert.ErrorIs(t, err, fwmark.ErrPermission)
	assert.NotErrorIs(t, err, fwmark.ErrInvalid)
}
