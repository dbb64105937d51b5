package enum

import "strconv"

// Integer is the underlying type of an enumeration.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32
}

// Name returns names[i] for the i with values[i] == v, or kind(N) (N the
// number) when v is none of values. names has a name for every value.
//
// Name must stay small enough to be inlined (with number kept out of
// line): an instance of a generic function that is called, not inlined,
// from another package makes the callers' slices escape, two allocations
// per String (TestNameAllocatesNothing).
func Name[T Integer](v T, kind string, values []T, names ...string) string {
	for i, x := range values {
		if x == v {
			return names[i]
		}
	}
	return number(kind, int64(v))
}

// number is kept out of line so that Name stays within the inlining budget.
//
//go:noinline
func number(kind string, n int64) string {
	return kind + "(" + strconv.FormatInt(n, 10) + ")"
}
