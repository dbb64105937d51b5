package metrics

import (
	"errors"
	"testing"
	"time"
)

func TestNewBadInput(t *testing.T) {
	if _, err := New(nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(nil) = %v, want ErrInvalid", err)
	}
}

func TestErrorPkg(t *testing.T) {
	_, err := New(nil, &Options{Timeout: -time.Second})
	var e *Error
	if !errors.As(err, &e) || e.Pkg != "metrics" || e.Kind != ErrInvalid {
		t.Errorf("error %#v: want *Error from package metrics, kind ErrInvalid", err)
	}
}
