package diag

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFindings(t *testing.T) {
	var fs Findings
	assert.True(t, fs.OK())
	assert.Equal(t, "ok", fs.String())
	fs = append(fs, Finding{SeverityNote, "", "mtu", ""}, Finding{SeverityWarning, "VIP 10.0.0.1", "odd", ""})
	assert.True(t, fs.OK(), "notes and warnings are not broken")
	fs = append(fs, Finding{SeverityBroken, "device eth0", "answers ARP", "sysctl -w x=1"})
	assert.False(t, fs.OK())
	assert.Equal(t, "note: mtu\nwarning: VIP 10.0.0.1: odd\nbroken: device eth0: answers ARP; fix: sysctl -w x=1", fs.String())
	assert.Equal(t, "severity(9)", Severity(9).String())
}
