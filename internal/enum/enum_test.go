package enum

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

type kind int

type small uint8

func TestName(t *testing.T) {
	assert.Equal(t, "b", Name(kind(2), "kind", []kind{1, 2}, "a", "b"))
	assert.Equal(t, "kind(3)", Name(kind(3), "kind", []kind{1, 2}, "a", "b"))
	assert.Equal(t, "kind(-1)", Name(kind(-1), "kind", []kind{1, 2}, "a", "b"))
	assert.Equal(t, "small(255)", Name(small(255), "small", []small{0}, "zero"))
	assert.Equal(t, "zero", Name(small(0), "small", []small{0}, "zero"))
}
