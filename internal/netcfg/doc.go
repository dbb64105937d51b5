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
//	j := new(netcfg.Journal)
//	err := j.Run(func() error {
//		if err := h.RaiseConfAll(j, "arp_ignore", 1); err != nil {
//			return err
//		}
//		return h.AddAddr(j, "lo", vip)
//	})
//	if err != nil {
//		return nil, err // Run has already rolled back what was done
//	}
//	return j.Undo, nil // the caller's teardown
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
