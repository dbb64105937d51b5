//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/golvs/lvs/internal/hostrec"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/ipvs"
)

// records are the agent's own entries in the host's records: the IPVS
// services it created, under its identity, so that a restart can delete a
// killed predecessor's.
type records struct {
	h    *netcfg.Host
	ipvs *ipvs.Client
}

func openRecords(id string, c *ipvs.Client) (*records, error) {
	h, err := netcfg.OpenConfig(0, "", id)
	if err != nil {
		return nil, err
	}
	return &records{h: h, ipvs: c}, nil
}

func (r *records) Close() error { return r.h.Close() }

// recover deletes the services a killed agent of the same identity left.
func (r *records) recover() error { return r.h.Recover("agent", r.restore) }

// serviceRes names a service in the host's records; restore parses it.
func serviceRes(k ipvs.ServiceKey) string {
	a := "-"
	if k.Address.IsValid() {
		a = k.Address.String()
	}
	return fmt.Sprintf("ipvs-service %d %d %s %d %d", k.Family, k.Protocol, a, k.Port, k.Fwmark)
}

// restore deletes a service of the agent's records (Recover, Teardown).
func (r *records) restore(res string, _ *hostrec.Resource) error {
	var k ipvs.ServiceKey
	var a string
	if _, err := fmt.Sscanf(strings.TrimPrefix(res, "ipvs-service "), "%d %d %s %d %d", &k.Family, &k.Protocol, &a, &k.Port, &k.Fwmark); err != nil {
		return fmt.Errorf("record %q: %w", res, err)
	}
	if a != "-" {
		k.Address, _ = netip.ParseAddr(a)
	}
	err := r.ipvs.DeleteService(context.Background(), k)
	if errors.Is(err, ipvs.ErrNotExist) {
		return nil
	}
	return err
}

// createService records svc on the host, then creates it with dests.
func (r *records) createService(ctx context.Context, svc ipvs.Service, dests []ipvs.Destination) (*Setup, error) {
	const op = "create service"
	j, err := r.h.Change("agent", op, func(j *netcfg.Journal) error {
		return r.h.Own(j, serviceRes(svc.ServiceKey), "delete service "+svc.ServiceKey.String(), "", "1", false,
			func() (map[string]string, error) {
				if err := r.ipvs.CreateService(ctx, svc); err != nil {
					if errors.Is(err, ipvs.ErrExist) {
						return nil, fmt.Errorf("%v already exists; not taking over someone else's service", svc.ServiceKey)
					}
					return nil, err
				}
				for _, dest := range dests {
					if err := r.ipvs.CreateDestination(ctx, svc.ServiceKey, dest); err != nil {
						return nil, err
					}
				}
				return nil, nil
			}, r.restore)
	})
	if err != nil {
		return nil, err
	}
	return Undo(op, func(context.Context) error { return j.Teardown() }), nil
}
