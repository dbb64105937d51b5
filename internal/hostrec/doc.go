// Package hostrec keeps the SDK's records on the host, shared by every
// process that uses the SDK in one network namespace:
//
//   - ownership: for each shared change (a sysctl, an address, a device, a
//     rule) the value before the first owner changed it and the owners
//     that still rely on it, so that the last owner out restores it, and
//     only if it still holds the value the owners wrote;
//   - journals: per agent identity, the undo actions of its set-ups,
//     written before the change each describes (write-ahead) and fsync'd,
//     so that a restarted agent with the same identity, or Recover, can
//     undo what a dead one left.
//
// Records live under Root (/run/golvs: tmpfs, gone at reboot like the
// kernel state they describe), one directory per network namespace named
// by the namespace file's device and inode, owner-only (0700/0600). Every
// read-modify-write happens under an exclusive flock of the directory's
// lock file, which also serialises set-ups across processes.
package hostrec
