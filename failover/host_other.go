//go:build !linux

package failover

import (
	"errors"
	"runtime"

	"github.com/golvs/lvs/internal/errs"
)

func openHost(*Config) (host, error) {
	return nil, errs.New(pkg, "open", ErrNotSupported, errors.New("the failover package needs Linux, not "+runtime.GOOS))
}
