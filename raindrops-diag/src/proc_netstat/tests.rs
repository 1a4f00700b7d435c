//! Tests of the netstat parser: captured kernel text, malformed text with
//! offsets, and properties over generated text.

use super::*;
use proptest::prelude::*;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

/// `cat /proc/net/netstat` on Linux 6.18 (this development machine, the
/// host namespace, with the load of the workspace's tests).
const NETSTAT: &str = r#"TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps
TcpExt: 0 0 0 0 0 0 0 0 0 0 267871 0 0 0 0 0 0 0 13 50291 33 2 478 478 28821 588581 61920 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 1 0 0 0 0 918 2 0 1 0 6 369 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 20995 0 0 0 0 0 55551 1 0 0 0 0 0 0 0 0 0 0 0 3 0 462 131 131 34 0 621864 0 0 0 0 0 0 0 0 0 0 0 0 0 0 890487 0 0 0 0 0 0 2 0 1 0 0 0 0 0 0 0 0 0
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 405986308 105643803 0 0 0 0 0 1846163 0 0 0 0
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapRx DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData AddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoinPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback MD5SigFallback DssFallback SimultConnectFallback FallbackFailed WinProbe
MPTcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
"#;

/// `cat /proc/net/snmp`, same machine, same moment. `MaxConn` is `-1`.
const SNMP: &str = r#"Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 1846163 0 0 0 0 0 1846163 1839353 0 0 0 0 0 0 0 0 0 1839353
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps
Icmp: 1 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
IcmpMsg: InType3
IcmpMsg: 1
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 269651 269133 0 2026 0 1847744 1840970 1 0 1349 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 83 0 0 84 0 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
"#;

/// `unshare -n cat /proc/net/netstat`: a new namespace, every counter 0.
const NETSTAT_NEW_NS: &str = r#"TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps
TcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapRx DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData AddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoinPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback MD5SigFallback DssFallback SimultConnectFallback FallbackFailed WinProbe
MPTcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
"#;

#[test]
fn captured_netstat() {
    let s: Vec<_> = sections(NETSTAT.as_bytes()).map(Result::unwrap).collect();
    let prefixes: Vec<_> = s.iter().map(Section::prefix).collect();
    assert_eq!(prefixes, ["TcpExt", "IpExt", "MPTcpExt"]);
    let counts: Vec<_> = s.iter().map(|s| s.entries().count()).collect();
    assert_eq!(counts, [135, 18, 76]);
    assert_eq!(entries(NETSTAT.as_bytes()).count(), 135 + 18 + 76);
    assert!(entries(NETSTAT.as_bytes()).all(|e| e.is_ok()));

    let first = s[0].entries().next().unwrap();
    assert_eq!(
        first,
        Entry {
            prefix: "TcpExt",
            name: "SyncookiesSent",
            value: 0
        }
    );
    let last = s[2].entries().last().unwrap();
    assert_eq!(
        (last.prefix, last.name, last.value),
        ("MPTcpExt", "WinProbe", 0)
    );
    assert_eq!(s[1].get("InOctets"), Some(405_986_308));

    let t = TcpExt::from_text(NETSTAT.as_bytes()).unwrap();
    assert_eq!(t.listen_overflows, Some(478));
    assert_eq!(t.listen_drops, Some(478));
    assert_eq!(t.tcp_defer_accept_drop, Some(20_995));
    assert_eq!(t.tcp_req_q_full_drop, Some(0));
    assert_eq!(t.tcp_req_q_full_do_cookies, Some(0));
    assert_eq!(
        (t.syncookies_sent, t.syncookies_recv, t.syncookies_failed),
        (Some(0), Some(0), Some(0))
    );
    assert!(t.iter().all(|(_, v)| v.is_some()));
    assert_eq!(t.iter().map(|(n, _)| n).collect::<Vec<_>>(), TcpExt::NAMES);

    assert_eq!(
        lookup(NETSTAT.as_bytes(), "TcpExt", "ListenOverflows"),
        Ok(Some(478))
    );
    assert_eq!(
        lookup(NETSTAT.as_bytes(), "IpExt", "ListenOverflows"),
        Ok(None)
    );
    assert_eq!(
        lookup(NETSTAT.as_bytes(), "TcpExt", "NoSuchCounter"),
        Ok(None)
    );
}

#[test]
fn captured_snmp_with_a_signed_value() {
    let s: Vec<_> = sections(SNMP.as_bytes()).map(Result::unwrap).collect();
    let prefixes: Vec<_> = s.iter().map(Section::prefix).collect();
    assert_eq!(prefixes, ["Ip", "Icmp", "IcmpMsg", "Tcp", "Udp", "UdpLite"]);
    let max_conn = lookup(SNMP.as_bytes(), "Tcp", "MaxConn").unwrap().unwrap();
    assert_eq!(max_conn, u64::MAX);
    assert_eq!(max_conn as i64, -1);
    assert_eq!(lookup(SNMP.as_bytes(), "Tcp", "RtoMax"), Ok(Some(120_000)));
    assert_eq!(lookup(SNMP.as_bytes(), "IcmpMsg", "InType3"), Ok(Some(1)));
    // /proc/net/snmp has no TcpExt.
    assert_eq!(
        TcpExt::from_text(SNMP.as_bytes()),
        Err(NetstatError::MissingSection { offset: SNMP.len() })
    );
}

#[test]
fn captured_new_namespace() {
    let t = TcpExt::from_text(NETSTAT_NEW_NS.as_bytes()).unwrap();
    assert!(t.iter().all(|(_, v)| v == Some(0)));
    assert!(entries(NETSTAT_NEW_NS.as_bytes()).all(|e| e.is_ok_and(|e| e.value == 0)));
}

#[test]
fn an_older_kernel_lacks_counters() {
    // Linux 2.6.32 had neither TCPReqQFullDrop nor TCPReqQFullDoCookies.
    let text =
        b"TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPDeferAcceptDrop\nTcpExt: 1 2 3 4\n";
    let t = TcpExt::from_text(text).unwrap();
    assert_eq!(
        (t.syncookies_sent, t.listen_overflows, t.listen_drops),
        (Some(1), Some(2), Some(3))
    );
    assert_eq!(t.tcp_defer_accept_drop, Some(4));
    assert_eq!(
        (t.tcp_req_q_full_drop, t.tcp_req_q_full_do_cookies),
        (None, None)
    );
}

#[test]
fn errors_point_at_the_bytes() {
    let e = |text: &str| entries(text.as_bytes()).find_map(Result::err);
    assert_eq!(
        e("no colon here\n"),
        Some(NetstatError::NoPrefix { offset: 0 })
    );
    assert_eq!(e("A: x\n"), Some(NetstatError::Unpaired { offset: 0 }));
    assert_eq!(
        e("A: x\nB: 1\n"),
        Some(NetstatError::Unpaired { offset: 0 })
    );
    assert_eq!(
        e("A: x y\nA: 1\n"),
        Some(NetstatError::CountMismatch { offset: 7 })
    );
    assert_eq!(
        e("A: x\nA: 1 2\n"),
        Some(NetstatError::CountMismatch { offset: 5 })
    );
    assert_eq!(
        e("A: x y\nA: 1 z\n"),
        Some(NetstatError::BadValue { offset: 12 })
    );
    assert_eq!(
        e("A: x 9y\nA: 1 2\n"),
        Some(NetstatError::BadName { offset: 5 })
    );
    assert_eq!(
        e("A: x  y\nA: 1  2\n"),
        Some(NetstatError::BadName { offset: 5 })
    );
    assert_eq!(e("1: x\n1: 2\n"), Some(NetstatError::BadName { offset: 0 }));
    assert_eq!(
        e("A: x\nA: 18446744073709551616\n"),
        Some(NetstatError::BadValue { offset: 8 })
    );
    assert_eq!(
        e("A: x\nA: -9223372036854775809\n"),
        Some(NetstatError::BadValue { offset: 8 })
    );
    assert_eq!(
        e("A: x\nA: -\n"),
        Some(NetstatError::BadValue { offset: 8 })
    );
    assert_eq!(
        e("A: x\nA: 1 \n"),
        Some(NetstatError::CountMismatch { offset: 5 })
    );
    assert_eq!(e("A: x\nA:1\n"), Some(NetstatError::BadValue { offset: 7 }));
    // The most negative `long`, and the largest `unsigned long`.
    assert_eq!(
        lookup(b"A: x\nA: -9223372036854775808\n", "A", "x"),
        Ok(Some(1 << 63))
    );
    assert_eq!(
        lookup(b"A: x\nA: 18446744073709551615\n", "A", "x"),
        Ok(Some(u64::MAX))
    );
}

#[test]
fn a_bad_pair_does_not_hide_the_others() {
    // A header whose value line went missing: the next pair is found.
    let text = b"Junk: a b\nTcpExt: ListenOverflows\nTcpExt: 7\nB: z\nB: q\n";
    let all: Vec<_> = entries(text).collect();
    assert_eq!(all[0], Err(NetstatError::Unpaired { offset: 0 }));
    assert_eq!(
        all[1],
        Ok(Entry {
            prefix: "TcpExt",
            name: "ListenOverflows",
            value: 7
        })
    );
    assert_eq!(all[2], Err(NetstatError::BadValue { offset: 52 }));
    assert_eq!(all.len(), 3);
    assert_eq!(TcpExt::from_text(text).unwrap().listen_overflows, Some(7));
    assert_eq!(lookup(text, "TcpExt", "ListenOverflows"), Ok(Some(7)));
    // Not found: the first error explains why.
    assert_eq!(
        lookup(text, "B", "z"),
        Err(NetstatError::Unpaired { offset: 0 })
    );
    let broken = b"TcpExt: ListenOverflows\nTcpExt: x\n";
    assert_eq!(
        TcpExt::from_text(broken),
        Err(NetstatError::BadValue { offset: 32 })
    );
    // Empty lines are skipped; a header with no names pairs with an empty
    // value line.
    assert_eq!(lookup(b"\n\nA: x\n\nA: 3", "A", "x"), Ok(Some(3)));
    let empty: Vec<_> = sections(b"IcmpMsg:\nIcmpMsg:\n").collect();
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].unwrap().entries().count(), 0);
}

/// Text printed the kernel's way from generated sections.
fn print(sections: &[(String, Vec<(String, i128)>)]) -> String {
    let mut s = String::new();
    for (prefix, counters) in sections {
        s += prefix;
        s += ":";
        for (name, _) in counters {
            s += " ";
            s += name;
        }
        s += "\n";
        s += prefix;
        s += ":";
        for (_, value) in counters {
            s += &format!(" {value}");
        }
        s += "\n";
    }
    s
}

/// A value as the kernel prints it: `%lu`, or `%ld` for a few.
fn value() -> impl Strategy<Value = i128> {
    prop_oneof![
        (0..=u64::MAX).prop_map(i128::from),
        (i64::MIN..0).prop_map(i128::from),
        Just(0),
    ]
}

fn generated() -> impl Strategy<Value = Vec<(String, Vec<(String, i128)>)>> {
    let name = "[A-Za-z][A-Za-z0-9_]{0,20}";
    proptest::collection::vec(
        (name, proptest::collection::vec((name, value()), 0..12)),
        0..6,
    )
}

proptest! {
    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        for e in entries(&data) {
            let _ = e.map(|e| e.value);
        }
        let _ = lookup(&data, "TcpExt", "ListenOverflows");
        let _ = TcpExt::from_text(&data);
    }

    #[test]
    fn never_panics_on_near_misses(lines in proptest::collection::vec("[A-Z]{0,2}:?( [-0-9a-z]{0,3}){0,3} ?", 0..8)) {
        let text = lines.join("\n");
        for e in entries(text.as_bytes()) {
            if let Err(e) = e {
                prop_assert!(e.offset() <= text.len());
            }
        }
    }

    #[test]
    fn printed_text_parses_back(sample in generated()) {
        let text = print(&sample);
        let parsed: Vec<_> = sections(text.as_bytes()).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed.len(), sample.len());
        for (s, (prefix, counters)) in parsed.iter().zip(&sample) {
            prop_assert_eq!(s.prefix(), prefix.as_str());
            let got: Vec<_> = s.entries().map(|e| (e.name, e.value)).collect();
            let want: Vec<_> = counters.iter().map(|(n, v)| (n.as_str(), *v as u64)).collect();
            prop_assert_eq!(got, want);
        }
        // lookup finds the first of each (prefix, name).
        for (prefix, counters) in &sample {
            for (name, _) in counters {
                let first = sample.iter().filter(|(p, _)| p == prefix)
                    .flat_map(|(_, c)| c).find(|(n, _)| n == name).map(|(_, v)| *v as u64);
                prop_assert_eq!(lookup(text.as_bytes(), prefix, name), Ok(first));
            }
        }
        // Signed values come back as the kernel's `long`.
        for (e, v) in entries(text.as_bytes()).zip(sample.iter().flat_map(|(_, c)| c)) {
            let e = e.unwrap();
            if v.1 < 0 {
                prop_assert_eq!(e.value as i64, v.1 as i64);
            }
        }
    }
}

#[test]
fn errors_display_their_offset() {
    let e = NetstatError::BadValue { offset: 12 };
    assert_eq!(format!("{e}"), "bad counter value at byte 12");
    let _ = vec![0u8; 0];
}
