package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/internal/undo"
)

// Setup is the SDK's one undo type.
type Setup = undo.Setup

// Step is one set-up step; it returns what undoes it.
type Step func(ctx context.Context) (*Setup, error)

// Undo makes a Setup of a plain undo function (closing clients).
func Undo(op string, f func(context.Context) error) *Setup {
	return undo.New("agent", op, []string{op}, nil, f)
}

// Serve runs steps as described in the package doc and returns the exit
// status: 0 after a clean teardown, 1 when set-up or teardown failed. name
// prefixes the messages on standard error.
func Serve(name string, steps []Step) int { return ServeReady(name, steps, nil) }

// ServeReady is Serve calling ready, if set, right after it printed
// "ready" (for agents that print more lines, which must come after it).
func ServeReady(name string, steps []Step, ready func()) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var setups []*Setup
	teardown := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		for i := len(setups) - 1; i >= 0; i-- {
			errs = append(errs, setups[i].Teardown(ctx))
		}
		return errors.Join(errs...)
	}
	for k, s := range steps {
		if crashAt(k) {
			// Test hook (LVS_AGENT_CRASH_AFTER): die as SIGKILL would,
			// with the steps so far in place.
			os.Exit(137)
		}
		u, err := s(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, name+": set-up failed:", err)
			if err := teardown(); err != nil {
				fmt.Fprintln(os.Stderr, name+": rollback:", err)
			}
			return 1
		}
		setups = append(setups, u)
	}
	if crashAt(len(steps)) {
		os.Exit(137)
	}
	fmt.Println("ready")
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, name+": teardown:", err)
		return 1
	}
	return 0
}

// Main is a program's whole life: parse turns the command line into steps,
// which Serve runs. It returns the exit status: 0 for -h, 2 with the
// message for a bad command line, else Serve's.
func Main(name string, args []string, parse func([]string) ([]Step, error)) int {
	return MainReady(name, args, parse, nil)
}

// MainReady is Main with ServeReady's ready.
func MainReady(name string, args []string, parse func([]string) ([]Step, error), ready func()) int {
	steps, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 2
	}
	return ServeReady(name, steps, ready)
}

// MainRoles is Main for a program whose first argument names a role: -h
// (cli.Help) prints usage and exits 0, and the role's parse function gets
// the arguments after it.
func MainRoles(name, usage string, args []string, roles map[string]func([]string) ([]Step, error)) int {
	if cli.Help(args, usage) {
		return 0
	}
	return Main(name, args, Roles(usage, roles))
}

// Roles is a parse function for Main that hands the arguments after the
// first to the parse function of the role the first names.
func Roles(usage string, roles map[string]func([]string) ([]Step, error)) func([]string) ([]Step, error) {
	return func(args []string) ([]Step, error) {
		if len(args) == 0 {
			return nil, errors.New(usage)
		}
		parse, ok := roles[args[0]]
		if !ok {
			return nil, fmt.Errorf("unknown role %q\n%s", args[0], usage)
		}
		return parse(args[1:])
	}
}

// ParseFlags parses args into fs, which takes no positional arguments.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Split parses list, the comma-separated value of flag name, with parse;
// want describes the form expected, for the error.
func Split[T any](name, list, want string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, s := range strings.Split(list, ",") {
		v, err := parse(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s %q: want %s", name, list, want)
		}
		out = append(out, v)
	}
	return out, nil
}

// SameFamily checks that the real servers rs are of the VIP's address
// family, as mode (NAT, direct routing) needs.
func SameFamily(mode string, vip netip.Addr, rs ...netip.Addr) error {
	for _, a := range rs {
		if a.Is4() != vip.Is4() {
			return fmt.Errorf("-rs %v: %s needs real servers of the VIP's address family", a, mode)
		}
	}
	return nil
}

// crashAt reports whether the test hook asks the agent to die before step
// k (0-based; len(steps) is after the last): LVS_AGENT_CRASH_AFTER=k makes
// an agent exit at once, like SIGKILL, after k steps. For the kernel tests'
// fault injection; unset in normal use.
func crashAt(k int) bool {
	v, ok := os.LookupEnv("LVS_AGENT_CRASH_AFTER")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(v)
	return err == nil && n == k
}

// IDFlag defines -id in fs: the agent's identity on the host.
func IDFlag(fs *flag.FlagSet) *string {
	return fs.String("id", "", "agent `identity` on the host (default: role@VIP); a restart with the same identity undoes what a killed predecessor left")
}

// ID is the identity flag's value, or role@vip by default.
func ID(flagValue, role string, vip any) string {
	if flagValue != "" {
		return flagValue
	}
	return role + "@" + fmt.Sprint(vip)
}
