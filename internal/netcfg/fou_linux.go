//go:build linux

package netcfg

import (
	"errors"
	"fmt"
	"github.com/golvs/lvs/internal/errs"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The fou generic netlink family (include/uapi/linux/fou.h). Spoken
// directly rather than through vishvananda/netlink, whose fou helpers cache
// the family id in a package variable.
const (
	fouCmdAdd = 1
	fouCmdDel = 2
	fouCmdGet = 3

	fouAttrPort    = 1 // __be16
	fouAttrAF      = 2 // u8
	fouAttrIPProto = 3 // u8
	fouAttrType    = 4 // u8

	fouEncapDirect = 1
	fouEncapGUE    = 2
)

func (h *Host) fouConn() (*genetlink.Conn, genetlink.Family, error) {
	if err := h.Err(); err != nil {
		return nil, genetlink.Family{}, err
	}
	cfg := &netlink.Config{}
	if h.nsfd >= 0 {
		cfg.NetNS = h.nsfd
	}
	c, err := genetlink.Dial(cfg)
	if err != nil {
		return nil, genetlink.Family{}, kernelErr("generic netlink", err)
	}
	c.SetDeadline(time.Now().Add(socketTimeout))
	fam, err := c.GetFamily("fou")
	if err != nil {
		c.Close()
		if errors.Is(err, unix.ENOENT) {
			return nil, fam, &errs.Error{Pkg: pkg, Op: "fou", Kind: errs.ErrUnavailable, Err: fmt.Errorf("the kernel has no fou (foo-over-UDP) support; load the fou module: %w", err)}
		}
		return nil, fam, kernelErr("fou family", err)
	}
	return c, fam, nil
}

// Fous lists the fou receive ports in the namespace.
func (h *Host) Fous() ([]Fou, error) {
	c, fam, err := h.fouConn()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	msgs, err := c.Execute(genetlink.Message{Header: genetlink.Header{Command: fouCmdGet, Version: fam.Version}},
		fam.ID, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, kernelErr("list fou ports", err)
	}
	var out []Fou
	for _, m := range msgs {
		f, err := parseFou(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFou(b []byte) (Fou, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Fou{}, kernelErr("fou reply", err)
	}
	var f Fou
	for ad.Next() {
		switch ad.Type() {
		case fouAttrPort:
			if len(ad.Bytes()) == 2 {
				f.Port = uint16(ad.Bytes()[0])<<8 | uint16(ad.Bytes()[1])
			}
		case fouAttrAF:
			f.IPv6 = ad.Uint8() == unix.AF_INET6
		case fouAttrIPProto:
			f.Protocol = ad.Uint8()
		case fouAttrType:
			f.GUE = ad.Uint8() == fouEncapGUE
		}
	}
	if err := ad.Err(); err != nil {
		return Fou{}, kernelErr("fou reply", err)
	}
	return f, nil
}

func (h *Host) fouDo(cmd uint8, f Fou) error {
	c, fam, err := h.fouConn()
	if err != nil {
		return err
	}
	defer c.Close()
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(fouAttrPort, []byte{byte(f.Port >> 8), byte(f.Port)})
	af := uint8(unix.AF_INET)
	if f.IPv6 {
		af = unix.AF_INET6
	}
	ae.Uint8(fouAttrAF, af)
	if cmd == fouCmdAdd {
		typ := uint8(fouEncapDirect)
		if f.GUE {
			typ = fouEncapGUE
		} else {
			ae.Uint8(fouAttrIPProto, f.Protocol)
		}
		ae.Uint8(fouAttrType, typ)
	}
	data, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.Execute(genetlink.Message{Header: genetlink.Header{Command: cmd, Version: fam.Version}, Data: data},
		fam.ID, netlink.Request|netlink.Acknowledge)
	return err
}

// AddFou opens a fou receive port. An identical port already open is left
// alone and not recorded; the port open with another encapsulation is an
// errs.ErrConflict error.
func (h *Host) AddFou(j *Journal, f Fou) error {
	have, err := h.Fous()
	if err != nil {
		return err
	}
	on := false
	for _, x := range have {
		if x.Port == f.Port && x.IPv6 == f.IPv6 {
			if f.same(x) {
				on = true
				continue
			}
			return &errs.Error{Pkg: pkg, Op: "open fou port", Kind: errs.ErrConflict, Err: fmt.Errorf("fou port %d is already open as %s, not %s", f.Port, x, f)}
		}
	}
	open := func() (map[string]string, error) {
		if err := h.fouDo(fouCmdAdd, f); err != nil {
			return nil, kernelErr("open fou port "+f.String(), err)
		}
		return nil, nil
	}
	if j.tx != nil {
		return h.Own(j, "fou "+fouRes(f), "close fou port "+f.String(), Present(on), "1", on, open, nil)
	}
	if on {
		return nil
	}
	if _, err := open(); err != nil {
		return err
	}
	j.Record("close fou port "+f.String(), func() error {
		err := h.fouDo(fouCmdDel, f)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	})
	return nil
}

// same reports whether x is the port f describes (a GUE port's protocol
// does not matter).
func (f Fou) same(x Fou) bool {
	return x.Port == f.Port && x.IPv6 == f.IPv6 && x.GUE == f.GUE && (f.GUE || x.Protocol == f.Protocol)
}

// fouRes names a fou port in the ownership records; parseFouRes reads it
// back.
func fouRes(f Fou) string {
	return fmt.Sprintf("%d %t %t %d", f.Port, f.IPv6, f.GUE, f.Protocol)
}

func parseFouRes(s string) (Fou, error) {
	var f Fou
	_, err := fmt.Sscanf(s, "%d %t %t %d", &f.Port, &f.IPv6, &f.GUE, &f.Protocol)
	return f, err
}
