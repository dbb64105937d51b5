// Package undo is the SDK's one undo lifecycle: every call that changes the
// host (director's and realserver's set-ups, fwmark's Add) returns a
// *Setup, which each public package re-exports as its own Setup type
// (`type Setup = undo.Setup`), with the same semantics everywhere:
//
//   - Changes lists what Teardown would undo, last change first; empty when
//     everything was already in place (a second identical set-up).
//   - Teardown undoes the set-up once. A nil Setup, or one already torn
//     down, does nothing. A done ctx (ErrCanceled) or a closed client
//     (ErrClosed) is refused before anything is undone, and Teardown can be
//     called again later. Otherwise every step runs even when one fails,
//     and the failures are joined; the Setup is then spent.
//   - Teardown is serialised with the client's other calls.
package undo
