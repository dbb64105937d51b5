package diag

import (
	"strings"

	"github.com/golvs/lvs/internal/enum"
)

// Severity grades a Finding.
type Severity int

const (
	// SeverityNote: nothing is wrong by itself; worth knowing.
	SeverityNote Severity = iota + 1
	// SeverityWarning: works, but probably not as intended, or may break
	// depending on traffic the check cannot see.
	SeverityWarning
	// SeverityBroken: traffic will not flow as the mode needs.
	SeverityBroken
)

func (s Severity) String() string {
	return enum.Name(s, "severity", []Severity{SeverityNote, SeverityWarning, SeverityBroken}, "note", "warning", "broken")
}

// Finding is one thing a check found.
type Finding struct {
	Severity Severity
	// Subject is what the finding is about, e.g. "VIP 10.0.0.100 on lvs0",
	// "device eth0", "ip mangle/PREROUTING".
	Subject string
	// Problem says what is wrong and why; Fix what an operator would do
	// about it (may be empty).
	Problem, Fix string
}

func (f Finding) String() string {
	s := f.Severity.String() + ": "
	if f.Subject != "" {
		s += f.Subject + ": "
	}
	s += f.Problem
	if f.Fix != "" {
		s += "; fix: " + f.Fix
	}
	return s
}

// Findings is a check's outcome, in the order found.
type Findings []Finding

// OK reports whether no finding is SeverityBroken.
func (fs Findings) OK() bool {
	for _, f := range fs {
		if f.Severity == SeverityBroken {
			return false
		}
	}
	return true
}

// String is one finding per line, or "ok" when there is none.
func (fs Findings) String() string {
	if len(fs) == 0 {
		return "ok"
	}
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = f.String()
	}
	return strings.Join(lines, "\n")
}
