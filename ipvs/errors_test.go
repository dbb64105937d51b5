package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
)

// checkOneKind asserts the package's promise: err is an *Error of package
// ipvs whose Kind is want, and of the SDK's sentinels it matches want
// alone.
func checkOneKind(t *testing.T, name string, err, want error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: %T %v, want an *Error", name, err, err)
		return
	}
	if e.Pkg != "ipvs" || e.Kind != want {
		t.Errorf("%s: Pkg %q Kind %v, want ipvs and %v (%v)", name, e.Pkg, e.Kind, want, err)
	}
	var matched []error
	for _, s := range errs.All() {
		if errors.Is(err, s) {
			matched = append(matched, s)
		}
	}
	if len(matched) != 1 || matched[0] != want {
		t.Errorf("%s: %v matches %v, want exactly [%v]", name, err, matched, want)
	}
}

// ctxTransport answers every request with its context's error, as the
// netlink transport does once the context has ended.
type ctxTransport struct{}

func (ctxTransport) do(ctx context.Context, _ request, _ func(uint8, []byte) error) error {
	return ctx.Err()
}

func (ctxTransport) batch(ctx context.Context, reqs []request) ([]error, error) {
	es := make([]error, len(reqs))
	for i := range es {
		es[i] = &fateUnknown{ctx.Err()}
	}
	return es, ctx.Err()
}

func (ctxTransport) close() error { return nil }

// brokenBatch is a transport whose batches die after the first request
// with err: the first request is refused with EEXIST, the fate of the
// rest is unknown.
type brokenBatch struct{ err error }

func (b brokenBatch) do(context.Context, request, func(uint8, []byte) error) error { return b.err }

func (b brokenBatch) batch(_ context.Context, reqs []request) ([]error, error) {
	es := make([]error, len(reqs))
	es[0] = eEXIST
	for i := 1; i < len(es); i++ {
		es[i] = &fateUnknown{b.err}
	}
	return es, b.err
}

func (brokenBatch) close() error { return nil }

// TestEveryErrorMatchesOneSentinel drives every error path that needs no
// kernel and checks that each error matches exactly one sentinel, the
// right one, with the cause still reachable.
func TestEveryErrorMatchesOneSentinel(t *testing.T) {
	bg := context.Background()
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	dst := Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Weight: 1}

	// Every errno the kernel may answer a write with.
	errnos := []struct {
		errno syscall.Errno
		svc   error // for a service write
		dest  error // for a destination write
	}{
		{eEXIST, ErrExist, ErrExist},
		{eSRCH, ErrNotExist, ErrNotExist},
		{eNOENT, ErrUnavailable, ErrNotExist},
		{ePERM, ErrPermission, ErrPermission},
		{syscall.Errno(13), ErrPermission, ErrPermission}, // EACCES
		{eINVAL, ErrInvalid, ErrInvalid},
		{eRANGE, ErrInvalid, ErrInvalid},
		{eNODEV, ErrInvalid, ErrInvalid},
		{eOPNOTSUPP, ErrNotSupported, ErrNotSupported},
		{eAFNOSUPPORT, ErrNotSupported, ErrNotSupported},
		{errs.EBUSY, ErrBusy, ErrBusy},
		{errs.EAGAIN, ErrBusy, ErrBusy},
		{eNOBUFS, ErrBusy, ErrBusy},
		{errs.ENOMEM, ErrBusy, ErrBusy},
		{syscall.Errno(5), ErrKernel, ErrKernel},  // EIO: no meaning of its own
		{syscall.Errno(71), ErrKernel, ErrKernel}, // EPROTO
	}
	for _, tt := range errnos {
		c := newFake(&fakeTransport{replies: func(request) ([][]byte, error) { return nil, tt.errno }})
		name := errnoName(tt.errno)
		err := c.CreateService(bg, Service{ServiceKey: vip})
		checkOneKind(t, "create service "+name, err, tt.svc)
		if !errors.Is(err, tt.errno) {
			t.Errorf("create service %s: %v does not match the errno", name, err)
		}
		err = c.CreateDestination(bg, vip, dst)
		checkOneKind(t, "create destination "+name, err, tt.dest)
		_, err = c.Services(bg)
		checkOneKind(t, "list services "+name, err, tt.dest)
		_, err = c.Snapshot(bg)
		checkOneKind(t, "snapshot "+name, err, tt.dest)
		// In a batch: each write's error, and the batch's.
		res, err := c.Batch().CreateService(Service{ServiceKey: vip}).CreateDestination(vip, dst).Commit(bg)
		checkOneKind(t, "batch "+name, err, tt.svc)
		checkOneKind(t, "batch's service write "+name, res.Errs[0], tt.svc)
		checkOneKind(t, "batch's destination write "+name, res.Errs[1], tt.dest)
	}

	// A missing scheduler module names the module to load.
	c := newFake(&fakeTransport{replies: func(r request) ([][]byte, error) {
		if r.cmd == cmdGetService {
			return nil, nil // an empty table
		}
		return nil, eNOENT
	}})
	err := c.CreateService(bg, Service{ServiceKey: vip, Scheduler: TwoRandomChoices, Flags: FlagPersistent, Timeout: time.Second, PersistenceEngine: "sip"})
	checkOneKind(t, "missing module", err, ErrUnavailable)
	if !strings.Contains(err.Error(), "modprobe ip_vs_twos ip_vs_pe_sip") {
		t.Errorf("missing module: %q does not say what to load", err)
	}
	_, err = c.Apply(bg, State{Services: []ServiceState{{Service: Service{ServiceKey: vip, Scheduler: MaglevHashing}}}}, nil)
	checkOneKind(t, "apply with a missing module", err, ErrUnavailable)
	if !strings.Contains(err.Error(), "modprobe ip_vs_mh") {
		t.Errorf("apply with a missing module: %q does not say what to load", err)
	}

	// Replies the package cannot read.
	c = newFake(&fakeTransport{replies: func(request) ([][]byte, error) { return [][]byte{{1, 2, 3}}, nil }})
	_, err = c.Services(bg)
	checkOneKind(t, "malformed reply", err, ErrKernel)
	_, err = c.Service(bg, vip)
	checkOneKind(t, "malformed reply to a get", err, ErrKernel)
	_, err = c.Info(bg)
	checkOneKind(t, "malformed info", err, ErrKernel)
	// A get answered with nothing.
	_, err = newFake(&fakeTransport{}).Service(bg, vip)
	checkOneKind(t, "get of a missing service", err, ErrNotExist)
	// No acknowledgement at all (the kernel's EINTR).
	err = newFake(&fakeTransport{replies: func(request) ([][]byte, error) { return nil, errNoReply }}).Zero(bg)
	checkOneKind(t, "no reply", err, ErrKernel)

	// Cancelled and expired contexts; the context's error stays visible.
	cc := &Client{t: ctxTransport{}}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	expired, cancel2 := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel2()
	for _, x := range []struct {
		ctx   context.Context
		cause error
	}{{ctx, context.Canceled}, {expired, context.DeadlineExceeded}} {
		for name, err := range map[string]error{
			"create":  cc.CreateService(x.ctx, Service{ServiceKey: vip}),
			"list":    func() error { _, err := cc.Services(x.ctx); return err }(),
			"apply":   func() error { _, err := cc.Apply(x.ctx, State{}, nil); return err }(),
			"batch":   func() error { _, err := cc.Batch().CreateService(Service{ServiceKey: vip}).Commit(x.ctx); return err }(),
			"sysctls": func() error { _, err := cc.Sysctls(x.ctx); return err }(),
		} {
			checkOneKind(t, name+" "+x.cause.Error(), err, ErrCanceled)
			if !errors.Is(err, x.cause) {
				t.Errorf("%s: %v does not match %v", name, err, x.cause)
			}
		}
	}
	// A batch whose fate is unknown after the first write: each write
	// after it carries the batch's error, saying so.
	for _, x := range []struct {
		err  error
		want error
	}{{context.Canceled, ErrCanceled}, {eNOBUFS, ErrBusy}, {errClosed, ErrClosed}, {errors.New("something else"), ErrKernel}} {
		res, err := (&Client{t: brokenBatch{x.err}}).Batch().CreateService(Service{ServiceKey: vip}).CreateDestination(vip, dst).Commit(bg)
		checkOneKind(t, "broken batch "+x.err.Error(), err, x.want)
		checkOneKind(t, "broken batch's first write", res.Errs[0], ErrExist)
		checkOneKind(t, "broken batch's unknown write", res.Errs[1], x.want)
		if !strings.Contains(res.Errs[1].Error(), "may have applied") {
			t.Errorf("unknown fate: %q does not say so", res.Errs[1])
		}
	}

	// Validation: a sample of each validator (the field tests cover the
	// rest).
	c = newFake(&fakeTransport{})
	for name, err := range map[string]error{
		"key":         c.DeleteService(bg, ServiceKey{}),
		"service":     c.CreateService(bg, Service{ServiceKey: vip, Scheduler: "waytoolongschedulername"}),
		"destination": c.CreateDestination(bg, vip, Destination{}),
		"daemon":      c.StartDaemon(bg, Daemon{}),
		"stop daemon": c.StopDaemon(bg, 0),
		"timeouts":    c.SetTimeouts(bg, Timeouts{TCP: -1}),
		"batch":       func() error { _, err := c.Batch().Add(Change{Op: 99}).Commit(bg); return err }(),
		"apply":       func() error { _, err := c.Apply(bg, State{}, &ApplyOptions{DrainTimeout: -1}); return err }(),
		"sysctl name": func() error { _, err := c.Sysctl(bg, "../x"); return err }(),
		"protocol":    func() error { _, err := ParseProtocol("icmp"); return err }(),
		"netmask":     func() error { _, err := NetmaskBits(IPv4, 33); return err }(),
		"ipv4 mask":   func() error { _, err := NetmaskIPv4(netip.MustParseAddr("::1")); return err }(),
		"conns":       func() error { _, err := ParseConnections(strings.NewReader("TCP x\n")); return err }(),
		"stats":       func() error { _, err := ParseGlobalStats(strings.NewReader("")); return err }(),
	} {
		checkOneKind(t, "invalid "+name, err, ErrInvalid)
	}

	// A GUE tunnel the kernel turned into IPIP.
	gue := Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 5555}
	ipip := nla(attrDest|nlaFNested, nla(dstAddr, addr16("192.168.1.2")), nla(dstPort, be16(80)), nla(dstFwd, le32(uint32(Tunnel))), nla(dstAF, le16(uint16(IPv4))))
	c = newFake(&fakeTransport{replies: func(r request) ([][]byte, error) {
		if r.cmd == cmdGetDest {
			return [][]byte{ipip}, nil
		}
		return nil, nil
	}})
	checkOneKind(t, "tunnel ignored", c.CreateDestination(bg, vip, gue), ErrNotSupported)
}
