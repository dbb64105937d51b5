package fwmark

import (
	"errors"
	"testing"
)

// TestCloseTwice: a second Close must not release anything again (on
// Linux, closing the namespace descriptor twice would close whatever file
// had taken its number meanwhile: a setns elsewhere then failed with
// EINVAL in the kernel tests).
func TestCloseTwice(t *testing.T) {
	calls := 0
	c := &Client{closeFn: func() error { calls++; return errors.New("first") }}
	err1, err2 := c.Close(), c.Close()
	if calls != 1 || err1 == nil || err2 != err1 {
		t.Errorf("two Closes: released %d times, errors %v and %v; want once, the same error", calls, err1, err2)
	}
}
