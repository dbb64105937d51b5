//go:build linux

package ipvs

import (
	"context"
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// Check reports what in the namespace's IPVS configuration keeps traffic
// from being forwarded, or forwards it badly, with a fix for each:
// services without destinations or with every destination at weight 0,
// address services on an address that is not local, sync daemons on a
// missing or down interface, and the connection-reuse pitfalls of
// conn_reuse_mode, expire_nodest_conn and conntrack. It changes nothing. The error
// is for a table or host it cannot read, not for findings; no services
// and no daemons give no findings.
func (c *Client) Check(ctx context.Context) (Findings, error) {
	const op = "check"
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := c.Daemons(ctx)
	if err != nil {
		return nil, err
	}
	local := map[string]bool{}
	links := map[string]bool{} // name: up
	err = c.inNetNS(ctx, op, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range ifs {
			links[i.Name] = i.Flags&net.FlagUp != 0
			as, err := i.Addrs()
			if err != nil {
				return err
			}
			for _, a := range as {
				if n, ok := a.(*net.IPNet); ok {
					local[n.IP.String()] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := serviceFindings(snap, func(a string) bool { return local[a] })
	out = append(out, daemonFindings(ds, func(n string) (bool, bool) { up, ok := links[n]; return ok, up })...)
	reuse, err1 := c.SysctlInts(ctx, SysctlConnReuseMode)
	nodest, err2 := c.SysctlInts(ctx, SysctlExpireNodestConn)
	ct, err3 := c.SysctlInts(ctx, SysctlConntrack)
	if err2 == nil {
		err2 = err3
	}
	switch {
	case err1 == nil && err2 == nil && len(reuse) == 1 && len(nodest) == 1 && len(ct) == 1:
		var u unix.Utsname
		release := ""
		if unix.Uname(&u) == nil {
			release = unix.ByteSliceToString(u.Release[:])
		}
		out = append(out, reuseFindings(release, reuse[0], nodest[0], ct[0])...)
	case errors.Is(err1, ErrNotExist) || errors.Is(err1, ErrUnavailable):
		// ip_vs sysctls appear with the module: nothing to check yet.
	case err1 != nil:
		return nil, err1
	case err2 != nil && !errors.Is(err2, ErrNotExist) && !errors.Is(err2, ErrUnavailable):
		return nil, err2
	}
	return out, nil
}
