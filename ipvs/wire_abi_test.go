package ipvs

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// uapiHeader is the kernel's IPVS ABI as the C headers spell it.
const uapiHeader = "/usr/include/linux/ip_vs.h"

// TestABIMatchesUAPIHeader checks every kernel constant the package
// spells out against the kernel's uapi header on the host. In the test VM,
// which has no C headers, the same test asks the running kernel instead
// (TestKernelABIOps). It never skips: without the header it fails.
func TestABIMatchesUAPIHeader(t *testing.T) {
	if os.Getenv("LVS_VM") == "1" {
		return // checked against the kernel itself: TestKernelABIOps
	}
	src, err := os.ReadFile(uapiHeader)
	if err != nil {
		t.Fatalf("%v: the kernel's uapi headers are needed to check the IPVS ABI constants; install them (Debian/Ubuntu: apt-get install linux-libc-dev; Fedora: dnf install kernel-headers)", err)
	}
	h := parseCHeader(t, string(src))
	want := map[string]int64{
		"IPVS_CMD_NEW_SERVICE": cmdNewService, "IPVS_CMD_SET_SERVICE": cmdSetService,
		"IPVS_CMD_DEL_SERVICE": cmdDelService, "IPVS_CMD_GET_SERVICE": cmdGetService,
		"IPVS_CMD_NEW_DEST": cmdNewDest, "IPVS_CMD_SET_DEST": cmdSetDest,
		"IPVS_CMD_DEL_DEST": cmdDelDest, "IPVS_CMD_GET_DEST": cmdGetDest,
		"IPVS_CMD_NEW_DAEMON": cmdNewDaemon, "IPVS_CMD_DEL_DAEMON": cmdDelDaemon,
		"IPVS_CMD_GET_DAEMON": cmdGetDaemon, "IPVS_CMD_SET_CONFIG": cmdSetConfig,
		"IPVS_CMD_GET_CONFIG": cmdGetConfig, "IPVS_CMD_GET_INFO": cmdGetInfo,
		"IPVS_CMD_ZERO": cmdZero, "IPVS_CMD_FLUSH": cmdFlush,

		"IPVS_CMD_ATTR_SERVICE": attrService, "IPVS_CMD_ATTR_DEST": attrDest,
		"IPVS_CMD_ATTR_DAEMON": attrDaemon, "IPVS_CMD_ATTR_TIMEOUT_TCP": attrTimeoutTCP,
		"IPVS_CMD_ATTR_TIMEOUT_TCP_FIN": attrTimeoutFin, "IPVS_CMD_ATTR_TIMEOUT_UDP": attrTimeoutUDP,
		"IPVS_INFO_ATTR_VERSION": attrInfoVersion, "IPVS_INFO_ATTR_CONN_TAB_SIZE": attrInfoConnTabs,

		"IPVS_SVC_ATTR_AF": svcAF, "IPVS_SVC_ATTR_PROTOCOL": svcProtocol, "IPVS_SVC_ATTR_ADDR": svcAddr,
		"IPVS_SVC_ATTR_PORT": svcPort, "IPVS_SVC_ATTR_FWMARK": svcFwmark, "IPVS_SVC_ATTR_SCHED_NAME": svcSched,
		"IPVS_SVC_ATTR_FLAGS": svcFlags, "IPVS_SVC_ATTR_TIMEOUT": svcTimeout, "IPVS_SVC_ATTR_NETMASK": svcNetmask,
		"IPVS_SVC_ATTR_STATS": svcStats, "IPVS_SVC_ATTR_PE_NAME": svcPE, "IPVS_SVC_ATTR_STATS64": svcStats64,

		"IPVS_DEST_ATTR_ADDR": dstAddr, "IPVS_DEST_ATTR_PORT": dstPort, "IPVS_DEST_ATTR_FWD_METHOD": dstFwd,
		"IPVS_DEST_ATTR_WEIGHT": dstWeight, "IPVS_DEST_ATTR_U_THRESH": dstUThresh, "IPVS_DEST_ATTR_L_THRESH": dstLThresh,
		"IPVS_DEST_ATTR_ACTIVE_CONNS": dstActive, "IPVS_DEST_ATTR_INACT_CONNS": dstInactive,
		"IPVS_DEST_ATTR_PERSIST_CONNS": dstPersist, "IPVS_DEST_ATTR_STATS": dstStats, "IPVS_DEST_ATTR_ADDR_FAMILY": dstAF,
		"IPVS_DEST_ATTR_STATS64": dstStats64, "IPVS_DEST_ATTR_TUN_TYPE": dstTunType, "IPVS_DEST_ATTR_TUN_PORT": dstTunPort,
		"IPVS_DEST_ATTR_TUN_FLAGS": dstTunFlags, "IP_VS_CONN_F_FWD_MASK": dstFwdMask,

		"IPVS_DAEMON_ATTR_STATE": dmnState, "IPVS_DAEMON_ATTR_MCAST_IFN": dmnIfname, "IPVS_DAEMON_ATTR_SYNC_ID": dmnSyncID,
		"IPVS_DAEMON_ATTR_SYNC_MAXLEN": dmnMaxLen, "IPVS_DAEMON_ATTR_MCAST_GROUP": dmnGroup,
		"IPVS_DAEMON_ATTR_MCAST_GROUP6": dmnGroup6, "IPVS_DAEMON_ATTR_MCAST_PORT": dmnPort, "IPVS_DAEMON_ATTR_MCAST_TTL": dmnTTL,

		"IPVS_STATS_ATTR_CONNS": statConns, "IPVS_STATS_ATTR_INPKTS": statInPkts, "IPVS_STATS_ATTR_OUTPKTS": statOutPkts,
		"IPVS_STATS_ATTR_INBYTES": statInBytes, "IPVS_STATS_ATTR_OUTBYTES": statOutBytes, "IPVS_STATS_ATTR_CPS": statCPS,
		"IPVS_STATS_ATTR_INPPS": statInPPS, "IPVS_STATS_ATTR_OUTPPS": statOutPPS, "IPVS_STATS_ATTR_INBPS": statInBPS,
		"IPVS_STATS_ATTR_OUTBPS": statOutBPS,

		"IP_VS_SVC_F_PERSISTENT": int64(FlagPersistent), "IP_VS_SVC_F_HASHED": int64(flagHashed),
		"IP_VS_SVC_F_ONEPACKET": int64(FlagOnePacket), "IP_VS_SVC_F_SCHED1": int64(SchedFlag1),
		"IP_VS_SVC_F_SCHED2": int64(SchedFlag2), "IP_VS_SVC_F_SCHED3": int64(SchedFlag3),
		"IP_VS_STATE_MASTER": int64(DaemonMaster), "IP_VS_STATE_BACKUP": int64(DaemonBackup),
		"IP_VS_CONN_F_MASQ": int64(Masquerade), "IP_VS_CONN_F_LOCALNODE": int64(Local),
		"IP_VS_CONN_F_TUNNEL": int64(Tunnel), "IP_VS_CONN_F_DROUTE": int64(DirectRoute),
		"IP_VS_CONN_F_TUNNEL_TYPE_IPIP": int64(IPIP), "IP_VS_CONN_F_TUNNEL_TYPE_GUE": int64(GUE),
		"IP_VS_CONN_F_TUNNEL_TYPE_GRE": int64(GRE),
		"IP_VS_TUNNEL_ENCAP_FLAG_CSUM": int64(TunnelChecksum), "IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM": int64(TunnelRemoteChecksum),
		"IP_VS_SCHEDNAME_MAXLEN": maxNameLen + 1, "IP_VS_PENAME_MAXLEN": maxNameLen + 1, "IP_VS_IFNAME_MAXLEN": maxIfNameLen + 1,
		// The last attribute of each nest the decoders know.
		"IPVS_DEST_ATTR_MAX": dstMaxAttrID, "IPVS_DAEMON_ATTR_MAX": dmnMaxAttr,
	}
	for name, v := range want {
		got, ok := h[name]
		if !ok {
			t.Errorf("%s: not in %s", name, uapiHeader)
			continue
		}
		if got != v {
			t.Errorf("%s: the package says %d, %s says %d", name, v, uapiHeader, got)
		}
	}
}

var (
	cComment   = regexp.MustCompile(`(?s)/\*.*?\*/`)
	cDefine    = regexp.MustCompile(`(?m)^#define\s+(\w+)\s+(.+)$`)
	cEnum      = regexp.MustCompile(`(?s)enum\s*\w*\s*\{(.*?)\}`)
	cShift     = regexp.MustCompile(`^\(?\s*(\d+)\s*<<\s*(\d+)\s*\)?$`)
	cParenName = regexp.MustCompile(`^\(\s*(\w+)\s*-\s*1\s*\)$`)
)

// parseCHeader reads the integer #defines and enum values of a uapi
// header: literals, (1 << n), other names and (NAME - 1), which is all
// ip_vs.h uses.
func parseCHeader(t *testing.T, src string) map[string]int64 {
	src = cComment.ReplaceAllString(src, "")
	out := map[string]int64{}
	value := func(expr string) (int64, bool) {
		expr = strings.TrimSpace(expr)
		if n, err := strconv.ParseInt(strings.Trim(expr, "()"), 0, 64); err == nil {
			return n, true
		}
		if m := cShift.FindStringSubmatch(expr); m != nil {
			a, _ := strconv.ParseInt(m[1], 10, 64)
			b, _ := strconv.ParseInt(m[2], 10, 64)
			return a << b, true
		}
		if m := cParenName.FindStringSubmatch(expr); m != nil {
			v, ok := out[m[1]]
			return v - 1, ok
		}
		v, ok := out[expr]
		return v, ok
	}
	// Enums first: defines such as IPVS_CMD_MAX refer to them.
	for _, m := range cEnum.FindAllStringSubmatch(src, -1) {
		next := int64(0)
		for _, item := range strings.Split(m[1], ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, expr, hasValue := strings.Cut(item, "=")
			name = strings.TrimSpace(name)
			if hasValue {
				v, ok := value(expr)
				if !ok {
					t.Fatalf("%s: enum value %q not understood", uapiHeader, item)
				}
				next = v
			}
			out[name] = next
			next++
		}
	}
	for _, m := range cDefine.FindAllStringSubmatch(src, -1) {
		if v, ok := value(m[2]); ok {
			out[m[1]] = v
		}
	}
	if len(out) < 100 {
		t.Fatalf("%s: only %d constants understood; is it the IPVS header?", uapiHeader, len(out))
	}
	return out
}
