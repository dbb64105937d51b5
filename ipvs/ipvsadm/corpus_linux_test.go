//go:build linux

package ipvsadm_test

// corpus holds command sequences run once with the real ipvsadm and once
// with examples/ipvsadm, each in a fresh namespace; every sequence ends
// with -Sn and -Ln. Failing lines are as much the point as working ones.
var corpus = [][]string{
	// services of every kind
	{"-A -t 10.0.0.1:80", "-A -t 10.0.0.2:80 -s rr", "-A -u 10.0.0.1:53 -s wrr"},
	{"-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port -p 100 -M 255.255.255.0 --pe sip"},
	{"-A -u 10.0.0.1:53 -s sh -b sh-fallback -o", "-A -u 10.0.0.2:53 -s mh -b mh-port,mh-fallback -o -p"},
	{"-A -u 10.0.0.3:53 -s mh -b mh-port,flag-3", "-A -t 10.0.0.3:80 -s rr -b flag-1,flag-2,flag-3"},
	{"-A -f 7 -6 -s wrr -p 30 -M 64", "-A -f 100 -s rr", "-A -f 8 -s lc -p", "-A -f 9 -6 -o"},
	{"-A -t [2001:db8::1]:443 -s mh -b mh-port -p 300 -M 64", "-A -u [2001:db8::1]:53 -s nq"},
	{"-A --sctp-service 10.0.0.9:99 -s lc", "-A --sctp-service [2001:db8::9]:99 -s sed"},
	{"-A -t 1.2.3.4:80 -s rr -p", "-A -u 1.2.3.4:0 -s rr -p 5", "-A -t 1.2.3.7:80 -p5", "-At 1.2.3.8:81"},
	{"--add-service --tcp-service 10.0.0.1:80 --scheduler rr --persistent 20 --netmask 255.255.0.0"},
	{"-A -t 10.0.0.60:80 -M 255.0.0.0", "-A -t 10.0.0.61:80 -s lblc", "-A -t 10.0.0.62:80 -s lblcr", "-A -t 10.0.0.63:80 -s dh", "-A -t 10.0.0.64:80 -s ovf", "-A -t 10.0.0.65:80 -s fo", "-A -t 10.0.0.66:80 -s none"},
	{"-A -t 2001:db8::7 -p 10", "-A -t 10.0.0.70 -p", "-A -t 10.0.0.71:0 -p 9"},
	{"-A -t 010.0.0.1:80", "-A -t 10.1:80", "-A -t 0x0a.0.0.2:80", "-A -t 10.0.0.3:+80"},
	{"-A -t localhost:80", "-A -t [1.2.3.4]:80 -p"},
	// destinations
	{"-A -t 10.0.0.1:80 -s rr", "-a -t 10.0.0.1:80 -r 192.168.10.1:8080 -m -w 3 -x 10 -y 5", "-a -t 10.0.0.1:80 -r 192.168.10.2 -g", "-a -t 10.0.0.1:80 -r 192.168.10.3:81 -g -w 0", "-Ln --thresholds", "-Ln --persistent-conn"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r 192.168.10.2 -i --tun-type gue --tun-port 6080 --tun-csum", "-a -t 10.0.0.1:80 -r 192.168.10.3 -i --tun-type gre --tun-csum", "-a -t 10.0.0.1:80 -r 192.168.10.4 -i --tun-type gue --tun-port 6081 --tun-remcsum", "-a -t 10.0.0.1:80 -r 192.168.10.5 -i", "-a -t 10.0.0.1:80 -r 192.168.10.6 -i --tun-type ipip", "-a -t 10.0.0.1:80 -r 192.168.10.7 -i --tun-type gre", "-a -t 10.0.0.1:80 -r 192.168.10.8 -i --tun-type gue --tun-port 1 --tun-nocsum", "-Ln --tun-info"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r [2001:db8::5]:80 -i", "-a -t 10.0.0.1:80 -r [2001:db8::6]:80 -i --tun-type gue --tun-port 5555", "-a -t 10.0.0.1:80 -r [2001:db8::5] -i", "-a -t 10.0.0.1:80 -r [2001:db8::7]:80 -m", "-Ln --tun-info"},
	{"-A -f 7 -6", "-a -f 7 -6 -r [2001:db8::9]:80 -m", "-a -f 7 -6 -r 10.9.9.9 -i", "-a -f 7 -6 -r [2001:db8::a]:0 -g -w 9", "-Ln -f 7 -6", "-Ln -f 7"},
	{"-A -t [2001:db8::1]:443", "-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -g", "-a -t [2001:db8::1]:443 -r [2001:db8::3]:8443 -m -w 2", "-a -t [2001:db8::1]:443 -r 2001:db8::4 -m", "-Ln --thresholds"},
	{"-A -f 1", "-a -f 1 -r 10.0.0.2:0", "-a -f 1 -r 10.0.0.3:8080 -g", "-a -f 1 -r 10.0.0.4:80 -m -w 7"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r 10.9.0.1 -m -w 0", "-a -t 10.0.0.1:80 -r 10.9.0.2 -w 2147483647", "-a -t 10.0.0.1:80 -r 10.9.0.3 -w 2147483648", "-a -t 10.0.0.1:80 -r 10.9.0.4 -w -1", "-a -t 10.0.0.1:80 -r 10.9.0.5 -x 5 -y 9", "-a -t 10.0.0.1:80 -r 10.9.0.6 -x abc"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r 10.9.0.200", "-a -t 10.0.0.1:80 -r 10.9.0.100", "-a -t 10.0.0.1:80 -r 200.9.0.1", "-a -t 10.0.0.1:80 -r 10.9.0.100:81 -m", "-a -t 10.0.0.1:80 -r 10.9.0.100:79 -m", "-Ln --nosort", "-Sn --nosort"},
	{"-A -t 200.0.0.1:80", "-A -t 10.0.0.1:80", "-A -t 100.0.0.1:80", "-A -u 5.0.0.1:80", "-A -f 3", "-A -f 2 -6", "-A -t [fe80::1]:80", "-A -t [2001:db8::1]:80", "-A -t [2001:db8::1]:79", "-A -t [::1]:80"},
	// edits and deletes
	{"-A -t 10.0.0.1:80 -s rr -p 100", "-E -t 10.0.0.1:80 -s wlc", "-E -t 10.0.0.99:80", "-E -t 10.0.0.1:80 -s nosuch", "-E -t 10.0.0.1:80 -s sh -b sh-port -p 5 -M 255.255.255.128"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r 10.9.0.1 -m -w 5 -x 100 -y 50", "-e -t 10.0.0.1:80 -r 10.9.0.1 -m", "-e -t 10.0.0.1:80 -r 10.9.0.2 -m", "-e -t 10.0.0.1:80 -r 10.9.0.1 -w 9", "-Ln --thresholds"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r 10.9.0.1", "-d -t 10.0.0.1:80 -r 10.9.0.1", "-d -t 10.0.0.1:80 -r 10.9.0.1", "-d -t 10.0.0.2:80 -r 10.9.0.1", "-D -t 10.0.0.1:80", "-D -t 10.0.0.1:80"},
	{"-A -f 5", "-D -f 5", "-D -f 5 -6", "-A -f 5 -6", "-D -f 5 -6"},
	{"-A -t 10.0.0.1:80", "-A -u 10.0.0.1:80", "-C", "-A -t 10.0.0.2:80"},
	{"-A -t 10.0.0.1:80", "-Z", "-Z -t 10.0.0.1:80", "-Z -t 10.0.0.2:80", "-Z -f 4"},
	// kernel errors
	{"-A -t 10.0.0.1:80", "-A -t 10.0.0.1:80", "-a -t 10.0.0.99:80 -r 1.2.3.4", "-a -t 10.0.0.1:80 -r 1.2.3.4", "-a -t 10.0.0.1:80 -r 1.2.3.4"},
	{"-A -t 10.0.0.50:80 -s nosuch", "-A -t 10.0.0.51:80 --pe nosuch", "-A -t 10.0.0.52:80 -s abcdefghijklmnopqrstuvwxyz"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r 224.0.0.1", "-a -t 10.0.0.1:80 -r 0.0.0.0"},
	// parse and option errors
	{"-A -t 10.0.0.52:0", "-A -t 10.0.0.53:80 -o", "-A -t 10.0.0.54:80 -b sh-port", "-A -t 10.0.0.54:80 -s sh -b bogus", "-A -t 10.0.0.54:80 -s rr -b mh-port", "-A -t 10.0.0.55:80 -s sh -b ,sh-port,"},
	{"-A -t 10.0.0.1:80", "-a -t 10.0.0.1:80 -r 1.1.1.1 -m --tun-type gue", "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type gue", "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type gre --tun-port 5", "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type gue --tun-port 5 --tun-csum --tun-nocsum", "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type foo", "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-port 5", "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type gue --tun-port 0", "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type gre --tun-remcsum"},
	{"-A -t bogus..:80", "-A -f 0", "-A -f -3", "-A -f 4294967296", "-A -f abc", "-A -6 -f 5", "-A -t 10.0.0.60:80 -p 0", "-A -t 10.0.0.60:80 -p 2678401", "-A -t 10.0.0.61:80 -p 10 -M 300.0.0.0", "-A -t [2001:db8::61]:80 -p 10 -M 129", "-A -t [2001:db8::61]:80 -p 10 -M 0"},
	{"--bogus", "-A -t 1.1.1.1:80 extra", "-A -A", "-A -t 1.1.1.1:80 -t 1.1.1.2:80", "-A -t 1.1.1.1:80 -r 1.1.1.2", "-a -t 1.1.1.1:80", "-A", "-A -t", "-t 1.1.1.1:80 -A", "-V", "foo", "-A -t 1.1.1.1:80 --scheduler=rr --bogus"},
	{"-L -c --timeout", "-L --timeout --stats", "-Lc --stats", "-L --daemon --persistent-conn", "-Ln -c -n", "-L --exact --rate --thresholds", "-D -t 1.1.1.1:80 -s rr", "-C -n", "-S -c", "-Z -n", "-R -n"},
	{"--set 1 2", "--set 10 20 30", "-L --timeout", "--set 0 0 0", "-L --timeout", "--set 1 2 x", "--set -1 1 1", "--set 10 20 30 40", "-L --timeout"},
	{"--start-daemon foo", "--stop-daemon foo", "--stop-daemon master", "--start-daemon backup --mcast-interface lo --syncid 6 --mcast-group 224.0.0.99 --mcast-port 9000 --mcast-ttl 3 --sync-maxlen 1000", "-L --daemon", "--start-daemon backup --mcast-interface lo", "--stop-daemon backup", "-L --daemon", "--start-daemon backup --mcast-interface nosuchif0", "--start-daemon backup --syncid 300", "--start-daemon backup --mcast-group 10.0.0.1", "--start-daemon backup --mcast-group ff02::zz", "--start-daemon backup --mcast-port 0", "--start-daemon backup --mcast-ttl 256", "--start-daemon backup --sync-maxlen 65508"},
	{"--start-daemon backup --mcast-interface lo --mcast-group ff02::1", "-L --daemon", "--stop-daemon backup"},
	// listings
	{"-A -t 10.0.0.1:80 -s rr", "-a -t 10.0.0.1:80 -r 10.9.0.1:80 -m", "-Ln --stats", "-Ln --stats --exact", "-Ln --rate", "-Ln --rate --exact", "-Ln --exact", "-Ln -t 10.0.0.1:80", "-Ln -t 10.0.0.2:80", "-Ln -t 10.0.0.1:80 --stats", "-l -n", "--list --numeric --sort", "-Lnc", "-Lnc --persistent-conn", "-Ln --timeout", "-Ln --daemon", ""},
	{"-A -t 10.0.0.1:80 -s rr", "-a -t 10.0.0.1:80 -r 10.9.0.1:80 -m", "-L", "-S", "-Lc", "-L -t 10.0.0.1:http"},
	{"-A -t 10.0.0.1:http -s rr", "-A -u 10.0.0.1:domain", "-A -t 10.0.0.1:nosuchservice", "-S"},
	// restore
	{"<<-A -t 5.5.5.5:80 -s rr\\n\\n-a -t 5.5.5.5:80 -r 6.6.6.6 -m\\n-a -t 5.5.5.9:80 -r 6.6.6.6 -m\\nipvsadm -A -u 5.5.5.5:80\\n-A -t 5.5.5.5:80\\n-A -t 7.7.7.7:80\\n"},
	{"<<-A -t 5.5.5.5:80\\n-A -x\\n-A -t 7.7.7.7:80\\n"},
	{"<<-A -t 5.5.5.5:80\\n-A -t 5.5.5.6:0\\n-A -t 7.7.7.7:80\\n"},
	{"<<-A -t 5.5.5.5:80\\n# comment\\n-A -t 7.7.7.7:80\\n"},
	{"<<-A -t 5.5.5.5:80\\n-R\\n-A -t 7.7.7.7:80\\n"},
	{"<<-A -t 5.5.5.5:80\\n-Ln\\n-A -t 7.7.7.7:80\\n-a -t 7.7.7.7:80 -r 8.8.8.8:80 --tun-type gue -i --tun-port 1\\n"},
	{"<<-A -f 7 -6 -s wrr -p 30 -M 64\\n-a -f 7 -6 -r [2001:db8::9]:80 -m -w 1\\n-A -t [2001:db8::1]:443 -s mh -p 300 -M 64 -b mh-port\\n-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -g -w 1\\n"},
	// mixed families: every kind of service in one listing, tunnel
	// destinations of the other family (addresses in one /8 and one /32 so
	// that libipvs's comparator is an order and listings within the
	// sequence are the same in both namespaces)
	{"-A -t 10.30.0.2:80 -s rr", "-A -u 10.30.0.1:53", "-A --sctp-service 10.30.0.1:99", "-A -t [2001:db8::30]:80", "-A -u [2001:db8::30]:53 -p 60", "-A -f 3", "-A -f 2 -6 -p", "-A -f 1", "-A -t 10.30.0.1:80 -p 30",
		"-a -t 10.30.0.1:80 -r [2001:db8::31]:80 -i", "-a -t 10.30.0.1:80 -r 10.30.1.1:80 -m", "-a -t [2001:db8::30]:80 -r 10.30.1.3 -i --tun-type gre --tun-csum", "-a -f 2 -6 -r 10.30.1.2 -i --tun-type gue --tun-port 6080", "-a -f 2 -6 -r [2001:db8::32]:0 -g", "-a -f 1 -r [2001:db8::33]:0 -i -w 4",
		"-Ln", "-Ln --stats", "-Ln --rate --exact", "-Ln --thresholds", "-Ln --persistent-conn", "-Ln --tun-info", "-Sn", "-Ln -f 2 -6 --tun-info"},
	// IPv6 services and real servers at IPv4-mapped addresses ([::ffff:a.b.c.d]),
	// beside the IPv4 ones at the same addresses
	{"-A -t [::ffff:1.1.4.11]:80 -s rr", "-A -t 1.1.4.11:80", "-A -u [::ffff:1.1.4.11]:53 -p 30 -M 96", "-A --sctp-service [::ffff:1.1.4.12]:99",
		"-a -t [::ffff:1.1.4.11]:80 -r [::ffff:10.0.0.1]:8080 -m -w 2", "-a -t [::ffff:1.1.4.11]:80 -r [::ffff:10.0.0.1]:8080 -m", "-a -t [::ffff:1.1.4.11]:80 -r 10.0.0.1:80 -i",
		"-a -t [::ffff:1.1.4.11]:80 -r 10.0.0.3:80 -m", "-a -t [::ffff:1.1.4.11]:80 -r [2001:db8::5]:80 -g", "-a -t 1.1.4.11:80 -r [::ffff:10.0.0.4]:80 -i", "-a -t 1.1.4.11:80 -r [::ffff:10.0.0.5]:80 -m",
		"-e -t [::ffff:1.1.4.11]:80 -r [::ffff:10.0.0.1]:8080 -m -w 5 -x 9 -y 3", "-A -t [::ffff:1.1.4.11]:80",
		"-Ln", "-L", "-Sn", "-S", "-Ln --thresholds", "-Ln --tun-info", "-Ln -t [::ffff:1.1.4.11]:80", "-Ln -t 1.1.4.11:80", "-Ln --stats",
		"-d -t [::ffff:1.1.4.11]:80 -r [::ffff:10.0.0.1]:8080", "-d -t [::ffff:1.1.4.11]:80 -r [::ffff:10.0.0.1]:8080", "-d -t [::ffff:1.1.4.11]:80 -r 10.0.0.1:80",
		"-Ln", "-D -t [::ffff:1.1.4.11]:80", "-D -t [::ffff:1.1.4.11]:80", "-Ln"},
	{"<<-A -t [::ffff:1.1.4.13]:80 -s rr\\n-a -t [::ffff:1.1.4.13]:80 -r [::ffff:10.0.0.9]:80 -m -w 1\\n-A -t 1.1.4.13:80\\n-a -t 1.1.4.13:80 -r [::ffff:10.0.0.9]:80 -i -w 1\\n"},
	{"-A -f 9 -6", "-A -f 9", "-A -t [2001:db8::40]:1", "-A -t 10.40.0.1:1", "-A -u 10.40.0.1:1", "-A -u [2001:db8::40]:1", "-A --sctp-service [2001:db8::40]:1", "-Ln", "-Ln --stats --exact", "-Sn"},
}

// namesHosts is /etc/hosts for namesCorpus: names longer than the 33 and 28
// columns ipvsadm keeps for IPv4 services and servers, aliases, IPv6.
const namesHosts = `127.0.0.1 localhost
10.20.0.1 web-frontend-with-a-long-name.example.org web
10.20.1.1 rs1
10.20.1.2 real-server-two-has-a-long-name.example rs2
2001:db8::20 v6-service-name-that-is-quite-long.example
2001:db8::21 v6rs
10.20.0.3 ` + longName4 + `
2001:db8::22 ` + longName6 + `
`

// Names longer than the 59 bytes ipvsadm prints of a name:port.
const (
	longName4 = "a-host-name-so-long-that-ipvsadm-cuts-it-at-fifty-nine-bytes.example.org"
	longName6 = "an-ipv6-host-name-so-long-that-ipvsadm-cuts-it.example.org"
)

// namesCorpus runs with namesHosts: listings without -n, names on input,
// ports by their /etc/services names.
var namesCorpus = [][]string{
	{"-A -t web-frontend-with-a-long-name.example.org:http -s rr", "-a -t web:www -r rs1:http -m", "-a -t 10.20.0.1:80 -r real-server-two-has-a-long-name.example:8080 -m -w 2",
		"-a -t 10.20.0.1:80 -r [2001:db8::21] -i", "-a -t 10.20.0.1:80 -r 10.20.1.99:65001 -m -x 10 -y 5",
		"-A -u 10.20.0.1:domain", "-A -t 10.20.0.2:65000 -p", "-a -t 10.20.0.2:65000 -r rs2:22 -m",
		"-A -t [2001:db8::20]:https", "-a -t [2001:db8::20]:https -r [2001:db8::21]:ssh -m", "-a -t [2001:db8::20]:https -r rs1 -i --tun-type gue --tun-port 6080",
		"-A -f 5", "-a -f 5 -r rs1:0 -g",
		"-L", "-L --stats", "-L --rate", "-L --stats --exact", "-L --thresholds", "-L --persistent-conn", "-L --tun-info", "-S", "-Lc",
		"-L -t web-frontend-with-a-long-name.example.org:http", "-L -t 10.20.0.1:www --stats", "-L -u web:domain", "-L -t nosuchhost:80", "-L -t [2001:db8::20]:443"},
	{"-A -t 10.20.0.3:http", "-a -t 10.20.0.3:80 -r 10.20.0.3:8080 -m", "-A -t [2001:db8::22]:http", "-a -t [2001:db8::22]:80 -r [2001:db8::22]:443 -m", "-a -t [2001:db8::22]:80 -r 10.20.0.3 -i",
		"-S", "-L", "-L --stats", "-L --tun-info", "-L -t [2001:db8::22]:80"},
	{"-A -t rs2:https -s wrr -p 60 -M 255.255.0.0", "-A -u localhost:domain", "-a -u localhost:domain -r 127.0.0.1:53 -m", "-E -t rs2:443 -s lc", "-L", "-S", "-d -t rs2:https -r rs1", "-D -t rs2:https", "-L"},
	{"-A -t [::ffff:10.20.0.1]:http -s rr", "-a -t [::ffff:10.20.0.1]:80 -r [::ffff:10.20.1.1]:http -m", "-a -t [::ffff:10.20.0.1]:80 -r rs2 -i", "-L", "-S", "-L -t [::ffff:10.20.0.1]:http"},
}

// namesSeen are lines (or parts) the real ipvsadm prints for namesCorpus.
var namesSeen = [][]string{
	{"TCP  web-frontend-with-a-long-nam rr\n", "  -> real-server-two-has-a-long-n Masq", "  -> rs1:http ", "[v6-service-name-that-is-quite-long.example]:https",
		"-A -t web-frontend-with-a-long-name.example.org:http -s rr\n", "UDP  web-frontend-with-a-long-nam wlc\n"},
	{"-A -t " + (longName4 + ":http")[:59] + " -s wlc\n", "-a -t " + (longName4 + ":http")[:59] + " -r " + (longName4 + ":http-alt")[:59] + " -m -w 1\n",
		"TCP  [" + (longName6 + "]:http")[:58] + " wlc\n", "  -> [" + (longName6 + "]:https")[:58] + " Masq"},
	{"TCP  real-server-two-has-a-long-n lc\n", "UDP  localhost:domain wlc\n"},
}
