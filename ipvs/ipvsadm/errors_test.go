package ipvsadm

import (
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/errs"
)

// The package's errors carry its name and one of the SDK's sentinels
// (that its sentinels are the SDK's, the root's TestOneErrorVocabulary
// checks for every package).
func TestErrorsCarryThePackage(t *testing.T) {
	_, err := ParseCommand([]string{"ipvsadm", "-A", "-t", "bogus..:80"})
	var e *errs.Error
	if !errors.As(err, &e) || e.Pkg != "ipvsadm" || errs.KindOf(err) != errs.ErrInvalid {
		t.Errorf("ParseCommand's error: %#v", err)
	}
}
