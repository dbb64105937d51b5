package main

import (
	"log"
	"os"
	"path"
	"path/filepath"

	"github.com/golvs/lvs/internal/errs/sentinelgen"
)

func main() {
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatal("gensentinels: ", err)
	}
}

func run() error {
	src, err := os.ReadFile(filepath.Join("internal", "errs", "errs.go"))
	if err != nil {
		return err
	}
	sentinels, err := sentinelgen.Parse(src)
	if err != nil {
		return err
	}
	for _, p := range sentinelgen.Packages {
		out, err := sentinelgen.Render(path.Base(p), sentinels)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(filepath.FromSlash(p), sentinelgen.FileName), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}
