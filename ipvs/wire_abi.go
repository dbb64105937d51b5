package ipvs

import (
	"encoding/binary"
)

// Generic netlink commands of the "IPVS" family (include/uapi/linux/ip_vs.h).
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
	cmdGetInfo    = 15
	cmdZero       = 16
	cmdFlush      = 17
)

// Top-level attributes.
const (
	attrService    = 1
	attrDest       = 2
	attrDaemon     = 3
	attrTimeoutTCP = 4
	attrTimeoutFin = 5
	attrTimeoutUDP = 6

	// GET_INFO replies reuse numbers 1 and 2.
	attrInfoVersion  = 1
	attrInfoConnTabs = 2
)

// IPVS_SVC_ATTR_*.
const (
	svcAF       = 1
	svcProtocol = 2
	svcAddr     = 3
	svcPort     = 4
	svcFwmark   = 5
	svcSched    = 6
	svcFlags    = 7
	svcTimeout  = 8
	svcNetmask  = 9
	svcStats    = 10
	svcPE       = 11
	svcStats64  = 12
)

// IPVS_DEST_ATTR_*.
const (
	dstAddr      = 1
	dstPort      = 2
	dstFwd       = 3
	dstWeight    = 4
	dstUThresh   = 5
	dstLThresh   = 6
	dstActive    = 7
	dstInactive  = 8
	dstPersist   = 9
	dstStats     = 10
	dstAF        = 11
	dstStats64   = 12
	dstTunType   = 13
	dstTunPort   = 14
	dstTunFlags  = 15
	dstFwdMask   = 0x7
	dstMaxAttrID = dstTunFlags
)

// IPVS_DAEMON_ATTR_*.
const (
	dmnState   = 1
	dmnIfname  = 2
	dmnSyncID  = 3
	dmnMaxLen  = 4
	dmnGroup   = 5
	dmnGroup6  = 6
	dmnPort    = 7
	dmnTTL     = 8
	dmnMaxAttr = dmnTTL
)

// IPVS_STATS_ATTR_*.
const (
	statConns    = 1
	statInPkts   = 2
	statOutPkts  = 3
	statInBytes  = 4
	statOutBytes = 5
	statCPS      = 6
	statInPPS    = 7
	statOutPPS   = 8
	statInBPS    = 9
	statOutBPS   = 10
)

const nlaFNested = 0x8000

const nlaTypeMask = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

var native = binary.NativeEndian

const (
	nlmsgHdrLen = 16
	genlHdrLen  = 4

	nlmFRequest = 0x1 // NLM_F_REQUEST
	nlmFAck     = 0x4 // NLM_F_ACK
)
