//go:build !linux

package agent

import (
	"context"
	"errors"
	"runtime"

	"github.com/golvs/lvs/ipvs"
)

type records struct{}

var errNotLinux = errors.New("the example agents need Linux, not " + runtime.GOOS)

func openRecords(string, *ipvs.Client) (*records, error) { return nil, errNotLinux }
func (r *records) Close() error                          { return nil }
func (r *records) recover() error                        { return errNotLinux }
func (r *records) createService(context.Context, ipvs.Service, []ipvs.Destination) (*Setup, error) {
	return nil, errNotLinux
}
