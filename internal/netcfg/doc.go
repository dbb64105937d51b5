// Package netcfg holds the host-configuration primitives that the director
// and realserver packages build on: sysctls, addresses, links and fou ports
// inside a network namespace, each change recorded in a Journal that undoes
// exactly what was done.
//
// # Model
//
// A Host is one network namespace, named by path ("" is the caller's). Every
// mutating method takes a *Journal and records an undo step only for what it
// actually changed: a sysctl already at the wanted value, an address or link
// already present, or a link already up is left alone and not recorded, so
// undoing never removes or resets what someone else set. A sysctl step
// restores the exact previous value, never a default.
//
// A set-up function in director/ or realserver/ therefore looks like
//
//	j, err := h.Change("realserver", "set up DR", func(j *netcfg.Journal) error {
//		if err := h.RaiseConfAll(j, "arp_ignore", 1); err != nil {
//			return err
//		}
//		return h.AddAddr(j, "lo", vip)
//	})
//	if err != nil {
//		return nil, err // Change has already rolled back what was done
//	}
//	return j.Teardown, nil // the caller's teardown
//
// # Ownership on the host
//
// A Journal from Change takes part in the host's records
// (internal/hostrec): Change holds the namespace's host-wide flock, and
// every shared change (a sysctl, an address, a device, up state, a fou
// port; other packages add kinds through Own with a Restorer) is recorded
// with its original value and the set-ups that rely on it. A change that
// is already in place and recorded by another set-up is joined, not
// ignored, so its first owner's teardown does not undo it under the
// second; the last owner out restores it, and only if it still holds the
// value written. For a Host opened with OpenConfig(fd, path, identity), the
// release of each change is written to the identity's journal before the
// change (write-ahead, fsync'd), so Recover can undo a killed process's
// leftovers. KeepRA keeps router advertisements accepted when IPv6
// forwarding goes on. LVS_TEST_CRASH_AT=k (tests only) kills the process
// at the k-th record, for fault injection.
//
// A zero Journal works as before, without records: what it changes is
// undone by its own Undo.
//
// Validation (bad prefixes, unknown devices, conflicting addresses) belongs
// before the first change; the Check-style read methods (Conf, EffectiveConf,
// Addrs, FindAddr, LinkByName, Fous) serve both validation and diagnosis.
//
// # Sysctl combination rules
//
// For some IPv4 conf keys the kernel combines conf/all with conf/IFACE:
// arp_ignore, arp_announce and rp_filter take the maximum, send_redirects
// (and a few others) is on if either is on. Combine and EffectiveConf apply
// these rules; RaiseConfAll raises conf/all, which is the only setting that
// also covers interfaces created later, and ClearConfOr clears both sides of
// an OR rule.
//
// # Namespaces
//
// Netlink sockets are opened in the namespace once, at Open. Sysctl files
// are opened on a thread that has joined the namespace
// (internal/netns.DoPath), because /proc/sys/net resolves to the namespace
// of the thread that opens the file.
//
// # Errors
//
// Errors are *errs.Error values of the SDK's one vocabulary, Pkg "netcfg":
// a missing device is errs.ErrNotExist, something in the way
// errs.ErrConflict, a missing module errs.ErrUnavailable, a closed Host
// errs.ErrClosed, with the errno underneath; the public packages hand them
// on with errs.Wrap, translating nothing. Messages name the device,
// address or sysctl, and for a missing device type the module to load;
// nothing here ever runs modprobe.
//
// # Privileges
//
// Reading needs nothing special; changing needs CAP_NET_ADMIN in the
// namespace's owning user namespace, and entering a namespace by path needs
// CAP_SYS_ADMIN.
package netcfg
