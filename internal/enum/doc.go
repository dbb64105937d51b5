// Package enum names the values of the SDK's small enumerations, so that
// every String method of one is the same one line.
package enum
