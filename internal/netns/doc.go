// Package netns runs code inside a network namespace on a locked OS thread.
//
// Sockets and /proc/sys/net files keep the namespace they were opened in,
// so opening them inside Do is how the SDK's packages act on another
// namespace without moving the caller. Files under /proc/net must be opened
// as /proc/thread-self/net/...: /proc/self/net follows the process's main
// thread, not the thread that joined the namespace.
package netns
