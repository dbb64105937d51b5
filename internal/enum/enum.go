// Package enum names the values of the SDK's small enumerations, so that
// every String method of one is the same one line.
package enum

import "strconv"

// Integer is the underlying type of an enumeration.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32
}

// Name returns names[i] for the i with values[i] == v, or kind(N) (N the
// number) when v is none of values.
func Name[T Integer](v T, kind string, values []T, names ...string) string {
	for i, x := range values {
		if x == v && i < len(names) {
			return names[i]
		}
	}
	return kind + "(" + strconv.FormatInt(int64(v), 10) + ")"
}
