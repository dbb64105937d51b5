//go:build !linux

package health

import (
	"context"
	"sync"
	"time"
)

// tcpPoller is Linux's: elsewhere TCP checks run as the others do.
type tcpPoller struct{}

func fastTCP(*probe) bool { return false }

func newTCPPoller(context.Context, chan<- []result, *sync.WaitGroup) (*tcpPoller, error) {
	return nil, errOS
}

func (*tcpPoller) start(*probe, time.Time) (result, bool) { return result{}, false }
func (*tcpPoller) stop()                                  {}
func (*tcpPoller) close()                                 {}
