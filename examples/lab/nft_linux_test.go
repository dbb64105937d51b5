package main

import "testing"

func TestWithoutEmptyBuiltins(t *testing.T) {
	// An empty builtin chain goes with its table; the rest is kept as is.
	const empty = `table ip mangle {
	chain PREROUTING {
		type filter hook prerouting priority mangle; policy accept;
	}
}
`
	want := `table ip6 nat {
	chain POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" masquerade
	}
}
table inet lvs {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
	}
}
table arp filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
	}
	chain OUTPUT {
		type filter hook output priority filter; policy drop;
	}
}
`
	if got := withoutEmptyBuiltins(empty + want); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
