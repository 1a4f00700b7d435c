//! The decoder of `struct tcp_info` (linux/tcp.h), read by length.

use core::fmt;

use crate::field::{FieldSpec, TcpInfoFields, Unit};
use crate::{CaState, FastOpenClientFail, TcpState, TcpiOptions};

/// The bytes of a Linux `struct tcp_info` as the kernel returned them, with
/// one accessor per field.
///
/// The kernel's struct grows with new kernels, and the kernel returns as
/// many bytes as it knows (or as the caller asked for): a field that lies
/// past the returned length is **absent**, and its accessor returns `None`,
/// never a zero that would look like a measurement. Every length is valid,
/// so decoding never fails: [`parse`](Self::parse) keeps the first
/// [`SIZE`](Self::SIZE) bytes of any slice, and bytes past `SIZE` (fields
/// newer than this crate) are ignored.
///
/// The bytes are in the host's byte order, as both
/// `getsockopt(TCP_INFO)` and the `INET_DIAG_INFO` attribute of a
/// `sock_diag` netlink reply deliver them, so the same decoder serves both.
///
/// Field names are the kernel's without the `tcpi_` prefix; each accessor
/// names its unit. The value is a copy (256 bytes), `Copy` and cheap to
/// keep; decoding happens in the accessors, which are a bounds check and a
/// load each.
///
/// ```
/// use raindrops_tcpinfo::{TcpInfo, TcpState};
///
/// // An old kernel (Linux 2.6) returned the first 104 bytes only.
/// let mut bytes = [0u8; 104];
/// bytes[0] = 1; // tcpi_state = TCP_ESTABLISHED
/// bytes[68..72].copy_from_slice(&250u32.to_ne_bytes()); // tcpi_rtt, µs
/// let info = TcpInfo::parse(&bytes);
/// assert_eq!(info.state(), Some(TcpState::Established));
/// assert_eq!(info.rtt(), Some(250));
/// assert_eq!(info.total_retrans(), Some(0)); // ends at byte 104: present
/// assert_eq!(info.bytes_acked(), None); // Linux 4.1+: absent, not 0
/// ```
#[derive(Clone, Copy)]
pub struct TcpInfo {
    len: usize,
    buf: [u8; TcpInfo::SIZE],
}

/// Reads a native-endian integer from the bytes of a [`TcpInfo`].
pub(crate) trait NeInt: Sized {
    fn read(info: &TcpInfo, offset: usize) -> Option<Self>;
}

macro_rules! ne_int {
    ($($ty:ty),+) => {$(
        impl NeInt for $ty {
            #[inline]
            fn read(info: &TcpInfo, offset: usize) -> Option<Self> {
                const N: usize = core::mem::size_of::<$ty>();
                let end = offset.checked_add(N)?;
                if end > info.len {
                    return None; // past what the kernel returned: absent
                }
                let bytes: [u8; N] = info.buf.get(offset..end)?.try_into().ok()?;
                Some(<$ty>::from_ne_bytes(bytes))
            }
        }
    )+};
}
ne_int!(u8, u16, u32, u64);

/// Defines the accessors of the plain integer fields, their offsets
/// (`offset::name`) and the table behind [`TcpInfo::fields`], from one list.
macro_rules! integer_fields {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $ty:ident @ $offset:literal, $unit:ident;
    )+) => {
        impl TcpInfo {
            $(
                $(#[doc = $doc])+
                #[inline]
                #[must_use]
                pub fn $name(&self) -> Option<$ty> {
                    self.int::<$ty>($offset)
                }
            )+
        }

        /// Byte offsets of the integer fields in `struct tcp_info`.
        #[allow(non_upper_case_globals, dead_code)]
        pub(crate) mod offset {
            $( pub(crate) const $name: usize = $offset; )+
        }

        /// Every integer field, in struct order.
        pub(crate) const INTEGER_FIELDS: &[FieldSpec] = &[$(
            FieldSpec {
                name: stringify!($name),
                offset: $offset,
                size: core::mem::size_of::<$ty>(),
                unit: Unit::$unit,
            },
        )+];
    };
}

// Offsets of the fields that are not plain integers.
const STATE: usize = 0;
const CA_STATE: usize = 1;
const OPTIONS: usize = 5;
/// `tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4`
const WSCALE: usize = 6;
/// `tcpi_delivery_rate_app_limited : 1, tcpi_fastopen_client_fail : 2`
const FLAGS: usize = 7;

integer_fields! {
    /// Unrecovered retransmission timeouts of the segment at the head of
    /// the queue (`tcpi_retransmits`, a count; reset when it is acknowledged).
    retransmits: u8 @ 2, Count;
    /// Unanswered zero-window probes sent (`tcpi_probes`, a count).
    probes: u8 @ 3, Count;
    /// Exponential backoff of the retransmission timer (`tcpi_backoff`, the
    /// number of doublings).
    backoff: u8 @ 4, Count;
    /// Retransmission timeout (`tcpi_rto`, µs).
    rto: u32 @ 8, Microseconds;
    /// Delayed-ACK timeout (`tcpi_ato`, µs).
    ato: u32 @ 12, Microseconds;
    /// Maximum segment size for sending (`tcpi_snd_mss`, bytes).
    snd_mss: u32 @ 16, Bytes;
    /// Estimated maximum segment size of the peer (`tcpi_rcv_mss`, bytes).
    rcv_mss: u32 @ 20, Bytes;
    /// Segments sent and not yet acknowledged (`tcpi_unacked`, segments).
    /// On a listener: the current length of the accept queue.
    unacked: u32 @ 24, Segments;
    /// Segments selectively acknowledged (`tcpi_sacked`, segments). On a
    /// listener: the accept queue's limit (the `listen()` backlog).
    sacked: u32 @ 28, Segments;
    /// Segments considered lost (`tcpi_lost`, segments).
    lost: u32 @ 32, Segments;
    /// Segments retransmitted and not yet acknowledged (`tcpi_retrans`,
    /// segments).
    retrans: u32 @ 36, Segments;
    /// Forward-acknowledged segments (`tcpi_fackets`, segments; always 0
    /// since Linux 4.15 removed FACK).
    fackets: u32 @ 40, Segments;
    /// Time since data was last sent (`tcpi_last_data_sent`, ms).
    last_data_sent: u32 @ 44, Milliseconds;
    /// Time since an ACK was last sent (`tcpi_last_ack_sent`, ms; the
    /// kernel does not track it and always returns 0).
    last_ack_sent: u32 @ 48, Milliseconds;
    /// Time since data was last received (`tcpi_last_data_recv`, ms). On a
    /// socket just accepted from a listener with `TCP_DEFER_ACCEPT`, how
    /// long the connection waited in the accept queue (what the
    /// `LastDataRecv` helper of the `std` feature records).
    last_data_recv: u32 @ 52, Milliseconds;
    /// Time since an ACK was last received (`tcpi_last_ack_recv`, ms).
    last_ack_recv: u32 @ 56, Milliseconds;
    /// Path MTU (`tcpi_pmtu`, bytes).
    pmtu: u32 @ 60, Bytes;
    /// Slow-start threshold of the receive window (`tcpi_rcv_ssthresh`,
    /// bytes).
    rcv_ssthresh: u32 @ 64, Bytes;
    /// Smoothed round-trip time (`tcpi_rtt`, µs).
    rtt: u32 @ 68, Microseconds;
    /// Round-trip time variation (`tcpi_rttvar`, µs).
    rttvar: u32 @ 72, Microseconds;
    /// Slow-start threshold (`tcpi_snd_ssthresh`, segments; `0x7fffffff`
    /// means not set yet, "infinite").
    snd_ssthresh: u32 @ 76, Segments;
    /// Congestion window (`tcpi_snd_cwnd`, segments).
    snd_cwnd: u32 @ 80, Segments;
    /// Advertised maximum segment size (`tcpi_advmss`, bytes).
    advmss: u32 @ 84, Bytes;
    /// Reordering metric: how far out of order a segment may arrive before
    /// it counts as lost (`tcpi_reordering`, segments).
    reordering: u32 @ 88, Segments;
    /// Round-trip time estimated by the receiver (`tcpi_rcv_rtt`, µs; 0
    /// until measured).
    rcv_rtt: u32 @ 92, Microseconds;
    /// Receive buffer space the receiver auto-tuning aims for
    /// (`tcpi_rcv_space`, bytes).
    rcv_space: u32 @ 96, Bytes;
    /// Segments retransmitted over the connection's life
    /// (`tcpi_total_retrans`, segments).
    total_retrans: u32 @ 100, Segments;
    /// Current pacing rate (`tcpi_pacing_rate`, bytes per second;
    /// `u64::MAX` means unlimited; Linux 3.15+).
    pacing_rate: u64 @ 104, BytesPerSecond;
    /// Maximum pacing rate set with `SO_MAX_PACING_RATE`
    /// (`tcpi_max_pacing_rate`, bytes per second; `u64::MAX` means
    /// unlimited; Linux 3.15+).
    max_pacing_rate: u64 @ 112, BytesPerSecond;
    /// Bytes sent and acknowledged by the peer, RFC 4898
    /// tcpEStatsAppHCThruOctetsAcked (`tcpi_bytes_acked`, bytes; Linux 4.1+).
    bytes_acked: u64 @ 120, Bytes;
    /// Bytes received and acknowledged, RFC 4898
    /// tcpEStatsAppHCThruOctetsReceived (`tcpi_bytes_received`, bytes;
    /// Linux 4.1+).
    bytes_received: u64 @ 128, Bytes;
    /// Segments sent, including retransmissions, RFC 4898
    /// tcpEStatsPerfSegsOut (`tcpi_segs_out`, segments; Linux 4.2+).
    segs_out: u32 @ 136, Segments;
    /// Segments received, RFC 4898 tcpEStatsPerfSegsIn (`tcpi_segs_in`,
    /// segments; Linux 4.2+).
    segs_in: u32 @ 140, Segments;
    /// Bytes written by the application and not sent yet
    /// (`tcpi_notsent_bytes`, bytes; Linux 4.5+).
    notsent_bytes: u32 @ 144, Bytes;
    /// Minimum round-trip time seen recently (`tcpi_min_rtt`, µs; Linux
    /// 4.5+).
    min_rtt: u32 @ 148, Microseconds;
    /// Segments received that carried data, RFC 4898
    /// tcpEStatsDataSegsIn (`tcpi_data_segs_in`, segments; Linux 4.6+).
    data_segs_in: u32 @ 152, Segments;
    /// Segments sent that carried data, RFC 4898 tcpEStatsDataSegsOut
    /// (`tcpi_data_segs_out`, segments; Linux 4.6+).
    data_segs_out: u32 @ 156, Segments;
    /// Most recent delivery rate sample (`tcpi_delivery_rate`, bytes per
    /// second; Linux 4.9+).
    delivery_rate: u64 @ 160, BytesPerSecond;
    /// Time spent with data in flight (`tcpi_busy_time`, µs; Linux 4.10+).
    busy_time: u64 @ 168, Microseconds;
    /// Time sending was limited by the peer's receive window
    /// (`tcpi_rwnd_limited`, µs; Linux 4.10+).
    rwnd_limited: u64 @ 176, Microseconds;
    /// Time sending was limited by the send buffer
    /// (`tcpi_sndbuf_limited`, µs; Linux 4.10+).
    sndbuf_limited: u64 @ 184, Microseconds;
    /// Segments delivered to the peer, including retransmissions
    /// (`tcpi_delivered`, segments; Linux 4.18+).
    delivered: u32 @ 192, Segments;
    /// Segments delivered that the peer echoed as ECN-CE marked
    /// (`tcpi_delivered_ce`, segments; Linux 4.18+).
    delivered_ce: u32 @ 196, Segments;
    /// Bytes sent, including retransmissions, RFC 4898
    /// tcpEStatsPerfHCDataOctetsOut (`tcpi_bytes_sent`, bytes; Linux 4.19+).
    bytes_sent: u64 @ 200, Bytes;
    /// Bytes retransmitted, RFC 4898 tcpEStatsPerfOctetsRetrans
    /// (`tcpi_bytes_retrans`, bytes; Linux 4.19+).
    bytes_retrans: u64 @ 208, Bytes;
    /// Duplicate segments reported by D-SACK (`tcpi_dsack_dups`,
    /// segments; Linux 4.19+).
    dsack_dups: u32 @ 216, Segments;
    /// Reordering events seen (`tcpi_reord_seen`, a count; Linux 4.19+).
    reord_seen: u32 @ 220, Count;
    /// Out-of-order packets received (`tcpi_rcv_ooopack`, segments; Linux
    /// 5.4+).
    rcv_ooopack: u32 @ 224, Segments;
    /// The peer's advertised receive window, after scaling
    /// (`tcpi_snd_wnd`, bytes; Linux 5.4+).
    snd_wnd: u32 @ 228, Bytes;
    /// Our advertised receive window, after scaling (`tcpi_rcv_wnd`,
    /// bytes; Linux 6.2+).
    rcv_wnd: u32 @ 232, Bytes;
    /// Times the connection's flow label was changed to try another path
    /// (PLB or timeout rehash; `tcpi_rehash`, a count; Linux 6.2+).
    rehash: u32 @ 236, Count;
    /// Retransmission timeouts over the connection's life (`tcpi_total_rto`,
    /// a count; Linux 6.7+).
    total_rto: u16 @ 240, Count;
    /// Recoveries from retransmission timeouts, however many timeouts each
    /// took (`tcpi_total_rto_recoveries`, a count; Linux 6.7+).
    total_rto_recoveries: u16 @ 242, Count;
    /// Time spent in timeout recovery over the connection's life
    /// (`tcpi_total_rto_time`, ms; Linux 6.7+).
    total_rto_time: u32 @ 244, Milliseconds;
}

impl TcpInfo {
    /// The size of the `struct tcp_info` this crate decodes, in bytes: up to
    /// and including `tcpi_total_rto_time` (Linux 6.7). Newer kernels
    /// return more, which is ignored.
    pub const SIZE: usize = 248;

    /// A value with no field at all (length 0).
    pub const EMPTY: TcpInfo = TcpInfo {
        len: 0,
        buf: [0; TcpInfo::SIZE],
    };

    /// Decodes `bytes`, the start of a `struct tcp_info` in host byte order
    /// (a `getsockopt(TCP_INFO)` result or an `INET_DIAG_INFO` attribute).
    ///
    /// Never fails and never panics: fields past the end of `bytes` are
    /// absent, and bytes past [`SIZE`](Self::SIZE) are ignored.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> TcpInfo {
        let mut info = TcpInfo::EMPTY;
        let len = bytes.len().min(TcpInfo::SIZE);
        if let (Some(dst), Some(src)) = (info.buf.get_mut(..len), bytes.get(..len)) {
            dst.copy_from_slice(src);
            info.len = len;
        }
        info
    }

    /// The whole buffer, for `getsockopt` to fill.
    #[cfg(feature = "std")]
    pub(crate) fn buffer_mut(&mut self) -> &mut [u8; TcpInfo::SIZE] {
        &mut self.buf
    }

    /// Keeps the first `len` bytes of the buffer (at most `SIZE`).
    #[cfg(feature = "std")]
    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(TcpInfo::SIZE);
    }

    /// The number of bytes kept: what the kernel returned, at most
    /// [`SIZE`](Self::SIZE).
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte was returned (no field is present).
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes kept, `len()` of them.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The native-endian integer at `offset`, if the kernel returned it.
    #[inline]
    pub(crate) fn int<T: NeInt>(&self, offset: usize) -> Option<T> {
        T::read(self, offset)
    }

    /// The connection's state (`tcpi_state`).
    #[inline]
    #[must_use]
    pub fn state(&self) -> Option<TcpState> {
        self.int::<u8>(STATE).map(TcpState::from)
    }

    /// The congestion-avoidance state (`tcpi_ca_state`).
    #[inline]
    #[must_use]
    pub fn ca_state(&self) -> Option<CaState> {
        self.int::<u8>(CA_STATE).map(CaState::from)
    }

    /// The TCP options in use (`tcpi_options`); unknown bits are kept.
    #[inline]
    #[must_use]
    pub fn options(&self) -> Option<TcpiOptions> {
        self.int::<u8>(OPTIONS).map(TcpiOptions::from_bits_retain)
    }

    /// The window scale the peer announced, applied to the windows it
    /// advertises to us (`tcpi_snd_wscale`, a shift count 0–14; meaningful
    /// when [`options`](Self::options) has `WSCALE`).
    #[inline]
    #[must_use]
    pub fn snd_wscale(&self) -> Option<u8> {
        self.int::<u8>(WSCALE).map(|b| bits(b, 0, 4))
    }

    /// The window scale we announced, applied to the windows we advertise
    /// (`tcpi_rcv_wscale`, a shift count 0–14; meaningful when
    /// [`options`](Self::options) has `WSCALE`).
    #[inline]
    #[must_use]
    pub fn rcv_wscale(&self) -> Option<u8> {
        self.int::<u8>(WSCALE).map(|b| bits(b, 4, 4))
    }

    /// Whether the last delivery rate sample was limited by the application
    /// rather than the network (`tcpi_delivery_rate_app_limited`, Linux
    /// 4.9+; older kernels leave the bit 0, which reads as `false`).
    #[inline]
    #[must_use]
    pub fn delivery_rate_app_limited(&self) -> Option<bool> {
        self.int::<u8>(FLAGS).map(|b| bits(b, 0, 1) != 0)
    }

    /// Why this client's Fast Open attempt failed
    /// (`tcpi_fastopen_client_fail`, Linux 5.5+).
    #[inline]
    #[must_use]
    pub fn fastopen_client_fail(&self) -> Option<FastOpenClientFail> {
        self.int::<u8>(FLAGS)
            .map(|b| FastOpenClientFail::from_bits(bits(b, 1, 2)))
    }

    /// Every integer field the kernel returned, with its name and unit, in
    /// struct order (everything except `state`, `ca_state`, `options` and
    /// the bit fields of bytes 6 and 7).
    ///
    /// ```
    /// use raindrops_tcpinfo::{TcpInfo, Unit};
    /// let info = TcpInfo::parse(&[0u8; 12]);
    /// let names: Vec<_> = info.fields().map(|f| (f.name, f.unit)).collect();
    /// assert_eq!(
    ///     names,
    ///     [
    ///         ("retransmits", Unit::Count),
    ///         ("probes", Unit::Count),
    ///         ("backoff", Unit::Count),
    ///         ("rto", Unit::Microseconds),
    ///     ]
    /// );
    /// ```
    pub fn fields(&self) -> TcpInfoFields<'_> {
        TcpInfoFields {
            info: self,
            specs: INTEGER_FIELDS.iter(),
        }
    }
}

/// The C bit field of `width` bits declared at bit `first` of `byte` (its
/// position counted in declaration order). GCC allocates bit fields from
/// the least significant bit on little-endian targets and from the most
/// significant bit on big-endian ones.
#[inline]
const fn bits(byte: u8, first: u32, width: u32) -> u8 {
    let shift = if cfg!(target_endian = "big") {
        8 - first - width
    } else {
        first
    };
    (byte >> shift) & ((1u8 << width) - 1)
}

impl Default for TcpInfo {
    /// [`TcpInfo::EMPTY`].
    fn default() -> Self {
        TcpInfo::EMPTY
    }
}

impl PartialEq for TcpInfo {
    /// Equal when the kept bytes are equal.
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for TcpInfo {}

impl core::hash::Hash for TcpInfo {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for TcpInfo {
    /// The length and every field present, by name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpInfo");
        d.field("len", &self.len);
        if let Some(v) = self.state() {
            d.field("state", &v);
        }
        if let Some(v) = self.ca_state() {
            d.field("ca_state", &v);
        }
        for m in self.fields().take_while(|m| m.name != "rto") {
            d.field(m.name, &m.value);
        }
        if let Some(v) = self.options() {
            d.field("options", &v);
        }
        if let Some(v) = self.snd_wscale() {
            d.field("snd_wscale", &v);
        }
        if let Some(v) = self.rcv_wscale() {
            d.field("rcv_wscale", &v);
        }
        if let Some(v) = self.delivery_rate_app_limited() {
            d.field("delivery_rate_app_limited", &v);
        }
        if let Some(v) = self.fastopen_client_fail() {
            d.field("fastopen_client_fail", &v);
        }
        for m in self.fields().skip_while(|m| m.name != "rto") {
            d.field(m.name, &m.value);
        }
        d.finish()
    }
}

/// Compile-time checks of every decoded offset and size against the uapi
/// `struct tcp_info` as bindgen sees it (linux-raw-sys).
#[cfg(test)]
// Rust 1.85's dead-code lint does not see uses inside `const _` items.
#[allow(dead_code)]
mod layout {
    use super::{CA_STATE, FLAGS, INTEGER_FIELDS, OPTIONS, STATE, TcpInfo, WSCALE, offset};
    use core::mem::{offset_of, size_of};
    use linux_raw_sys::net::tcp_info as K;

    /// The size of the field that `field` projects to.
    const fn size_of_field<F>(_field: fn(&K) -> &F) -> usize {
        size_of::<F>()
    }

    /// The size our table gives the integer field at `offset`, or 0.
    const fn spec_size(offset: usize) -> usize {
        let mut i = 0;
        while i < INTEGER_FIELDS.len() {
            if INTEGER_FIELDS[i].offset == offset {
                return INTEGER_FIELDS[i].size;
            }
            i += 1;
        }
        0
    }

    macro_rules! check {
        ($($ours:ident => $theirs:ident),+ $(,)?) => {
            $(
                const _: () = assert!(offset::$ours == offset_of!(K, $theirs));
                const _: () = assert!(
                    spec_size(offset::$ours) == size_of_field(|k: &K| &k.$theirs)
                );
            )+
            /// How many integer fields were checked.
            pub(super) const CHECKED: usize = [$(stringify!($ours)),+].len();
        };
    }

    check! {
        retransmits => tcpi_retransmits,
        probes => tcpi_probes,
        backoff => tcpi_backoff,
        rto => tcpi_rto,
        ato => tcpi_ato,
        snd_mss => tcpi_snd_mss,
        rcv_mss => tcpi_rcv_mss,
        unacked => tcpi_unacked,
        sacked => tcpi_sacked,
        lost => tcpi_lost,
        retrans => tcpi_retrans,
        fackets => tcpi_fackets,
        last_data_sent => tcpi_last_data_sent,
        last_ack_sent => tcpi_last_ack_sent,
        last_data_recv => tcpi_last_data_recv,
        last_ack_recv => tcpi_last_ack_recv,
        pmtu => tcpi_pmtu,
        rcv_ssthresh => tcpi_rcv_ssthresh,
        rtt => tcpi_rtt,
        rttvar => tcpi_rttvar,
        snd_ssthresh => tcpi_snd_ssthresh,
        snd_cwnd => tcpi_snd_cwnd,
        advmss => tcpi_advmss,
        reordering => tcpi_reordering,
        rcv_rtt => tcpi_rcv_rtt,
        rcv_space => tcpi_rcv_space,
        total_retrans => tcpi_total_retrans,
        pacing_rate => tcpi_pacing_rate,
        max_pacing_rate => tcpi_max_pacing_rate,
        bytes_acked => tcpi_bytes_acked,
        bytes_received => tcpi_bytes_received,
        segs_out => tcpi_segs_out,
        segs_in => tcpi_segs_in,
        notsent_bytes => tcpi_notsent_bytes,
        min_rtt => tcpi_min_rtt,
        data_segs_in => tcpi_data_segs_in,
        data_segs_out => tcpi_data_segs_out,
        delivery_rate => tcpi_delivery_rate,
        busy_time => tcpi_busy_time,
        rwnd_limited => tcpi_rwnd_limited,
        sndbuf_limited => tcpi_sndbuf_limited,
        delivered => tcpi_delivered,
        delivered_ce => tcpi_delivered_ce,
        bytes_sent => tcpi_bytes_sent,
        bytes_retrans => tcpi_bytes_retrans,
        dsack_dups => tcpi_dsack_dups,
        reord_seen => tcpi_reord_seen,
        rcv_ooopack => tcpi_rcv_ooopack,
        snd_wnd => tcpi_snd_wnd,
        rcv_wnd => tcpi_rcv_wnd,
        rehash => tcpi_rehash,
        total_rto => tcpi_total_rto,
        total_rto_recoveries => tcpi_total_rto_recoveries,
        total_rto_time => tcpi_total_rto_time,
    }

    // Every integer field of the table was checked above.
    const _: () = assert!(CHECKED == INTEGER_FIELDS.len());
    // The struct ends where the last field does.
    const _: () = assert!(size_of::<K>() == TcpInfo::SIZE);
    // The fields that are not plain integers.
    const _: () = assert!(offset_of!(K, tcpi_state) == STATE);
    const _: () = assert!(offset_of!(K, tcpi_ca_state) == CA_STATE);
    const _: () = assert!(offset_of!(K, tcpi_options) == OPTIONS);
    // The two bytes of bit fields: wscales in the first, flags in the second.
    const _: () = assert!(offset_of!(K, _bitfield_1) == WSCALE);
    const _: () = assert!(size_of_field(|k: &K| &k._bitfield_1) == 2);
    const _: () = assert!(FLAGS == WSCALE + 1);
    // The table is in struct order, without overlaps or gaps after byte 8.
    const _: () = {
        let mut i = 1;
        while i < INTEGER_FIELDS.len() {
            let prev = &INTEGER_FIELDS[i - 1];
            let this = &INTEGER_FIELDS[i];
            assert!(prev.offset + prev.size <= this.offset);
            assert!(this.offset < 8 || prev.offset < 8 || prev.offset + prev.size == this.offset);
            i += 1;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};
    use linux_raw_sys::net::tcp_info as K;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The uapi struct (bindgen's view) of `bytes`, zero-padded to its size.
    fn kernel_view(bytes: &[u8]) -> K {
        let mut padded = [0u8; size_of::<K>()];
        let n = bytes.len().min(padded.len());
        padded[..n].copy_from_slice(&bytes[..n]);
        // SAFETY: `padded` holds exactly `size_of::<K>()` initialised bytes,
        // `read_unaligned` has no alignment requirement, and `K` is made of
        // integers and a byte-array bit-field unit only, so any bytes are a
        // valid `K`.
        unsafe { core::ptr::read_unaligned(padded.as_ptr().cast::<K>()) }
    }

    /// Checks every accessor of `TcpInfo::parse(bytes)` against bindgen's
    /// struct: present exactly when the field fits in `bytes`, and equal.
    fn check_against_kernel_struct(bytes: &[u8]) {
        let info = TcpInfo::parse(bytes);
        let len = bytes.len().min(TcpInfo::SIZE);
        assert_eq!(info.len(), len);
        assert_eq!(info.as_bytes(), &bytes[..len]);
        let k = kernel_view(bytes);

        macro_rules! same {
            ($($ours:ident => $theirs:ident),+ $(,)?) => {$(
                let fits = offset_of!(K, $theirs) + size_of_val(&k.$theirs) <= len;
                assert_eq!(
                    info.$ours(),
                    fits.then_some(k.$theirs),
                    "{} at length {len}",
                    stringify!($ours)
                );
            )+};
        }
        same! {
            retransmits => tcpi_retransmits, probes => tcpi_probes,
            backoff => tcpi_backoff, rto => tcpi_rto, ato => tcpi_ato,
            snd_mss => tcpi_snd_mss, rcv_mss => tcpi_rcv_mss,
            unacked => tcpi_unacked, sacked => tcpi_sacked, lost => tcpi_lost,
            retrans => tcpi_retrans, fackets => tcpi_fackets,
            last_data_sent => tcpi_last_data_sent,
            last_ack_sent => tcpi_last_ack_sent,
            last_data_recv => tcpi_last_data_recv,
            last_ack_recv => tcpi_last_ack_recv, pmtu => tcpi_pmtu,
            rcv_ssthresh => tcpi_rcv_ssthresh, rtt => tcpi_rtt,
            rttvar => tcpi_rttvar, snd_ssthresh => tcpi_snd_ssthresh,
            snd_cwnd => tcpi_snd_cwnd, advmss => tcpi_advmss,
            reordering => tcpi_reordering, rcv_rtt => tcpi_rcv_rtt,
            rcv_space => tcpi_rcv_space, total_retrans => tcpi_total_retrans,
            pacing_rate => tcpi_pacing_rate,
            max_pacing_rate => tcpi_max_pacing_rate,
            bytes_acked => tcpi_bytes_acked,
            bytes_received => tcpi_bytes_received, segs_out => tcpi_segs_out,
            segs_in => tcpi_segs_in, notsent_bytes => tcpi_notsent_bytes,
            min_rtt => tcpi_min_rtt, data_segs_in => tcpi_data_segs_in,
            data_segs_out => tcpi_data_segs_out,
            delivery_rate => tcpi_delivery_rate, busy_time => tcpi_busy_time,
            rwnd_limited => tcpi_rwnd_limited,
            sndbuf_limited => tcpi_sndbuf_limited,
            delivered => tcpi_delivered, delivered_ce => tcpi_delivered_ce,
            bytes_sent => tcpi_bytes_sent, bytes_retrans => tcpi_bytes_retrans,
            dsack_dups => tcpi_dsack_dups, reord_seen => tcpi_reord_seen,
            rcv_ooopack => tcpi_rcv_ooopack, snd_wnd => tcpi_snd_wnd,
            rcv_wnd => tcpi_rcv_wnd, rehash => tcpi_rehash,
            total_rto => tcpi_total_rto,
            total_rto_recoveries => tcpi_total_rto_recoveries,
            total_rto_time => tcpi_total_rto_time,
        }

        let has = |off: usize| off < len;
        assert_eq!(info.state(), has(0).then(|| TcpState::from(k.tcpi_state)));
        assert_eq!(
            info.ca_state(),
            has(1).then(|| CaState::from(k.tcpi_ca_state))
        );
        assert_eq!(
            info.options(),
            has(5).then(|| TcpiOptions::from_bits_retain(k.tcpi_options))
        );
        assert_eq!(info.snd_wscale(), has(6).then(|| k.tcpi_snd_wscale()));
        assert_eq!(info.rcv_wscale(), has(6).then(|| k.tcpi_rcv_wscale()));
        assert_eq!(
            info.delivery_rate_app_limited(),
            has(7).then(|| k.tcpi_delivery_rate_app_limited() == 1)
        );
        assert_eq!(
            info.fastopen_client_fail().map(FastOpenClientFail::bits),
            has(7).then(|| k.tcpi_fastopen_client_fail())
        );

        // fields(): exactly the integer fields that fit, with the
        // accessors' values.
        let fitting = INTEGER_FIELDS
            .iter()
            .filter(|s| s.offset + s.size <= len)
            .count();
        let metrics: Vec<_> = info.fields().collect();
        assert_eq!(metrics.len(), fitting, "at length {len}");
        for (m, spec) in metrics.iter().zip(INTEGER_FIELDS) {
            assert_eq!(m.name, spec.name);
            let mut padded = [0u8; 8];
            padded[..spec.size].copy_from_slice(&bytes[spec.offset..spec.offset + spec.size]);
            let expected = match spec.size {
                1 => u64::from(padded[0]),
                2 => u64::from(u16::from_ne_bytes([padded[0], padded[1]])),
                4 => u64::from(u32::from_ne_bytes([
                    padded[0], padded[1], padded[2], padded[3],
                ])),
                _ => u64::from_ne_bytes(padded),
            };
            assert_eq!(m.value, expected, "{}", m.name);
        }
    }

    /// A full struct whose every byte differs from its neighbours.
    fn distinct_bytes(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
            .collect()
    }

    #[test]
    fn every_length_returns_exactly_the_fields_that_fit() {
        for full in [
            distinct_bytes(TcpInfo::SIZE + 32),
            std::vec![0xff; TcpInfo::SIZE],
            std::vec![0; TcpInfo::SIZE],
        ] {
            for len in 0..=full.len() {
                check_against_kernel_struct(&full[..len]);
            }
        }
    }

    #[test]
    fn bit_fields_are_split() {
        // snd_wscale 7, rcv_wscale 9 / app_limited 1, fastopen_client_fail 2,
        // in the host's bit-field order (as bindgen's setters write them).
        let mut k = kernel_view(&[]);
        k.set_tcpi_snd_wscale(7);
        k.set_tcpi_rcv_wscale(9);
        k.set_tcpi_delivery_rate_app_limited(1);
        k.set_tcpi_fastopen_client_fail(2);
        // SAFETY: `k` is a plain-old-data struct of `size_of::<K>()` bytes
        // with no padding (the layout checks show the fields tile it), so
        // all of its bytes are initialised.
        let bytes: [u8; size_of::<K>()] = unsafe { core::mem::transmute(k) };
        let info = TcpInfo::parse(&bytes);
        assert_eq!(info.snd_wscale(), Some(7));
        assert_eq!(info.rcv_wscale(), Some(9));
        assert_eq!(info.delivery_rate_app_limited(), Some(true));
        assert_eq!(
            info.fastopen_client_fail(),
            Some(FastOpenClientFail::DataNotAcked)
        );
        #[cfg(target_endian = "little")]
        assert_eq!(&bytes[6..8], &[0x97, 0b101]);
    }

    #[test]
    fn empty_and_default_have_no_field() {
        for info in [TcpInfo::EMPTY, TcpInfo::default(), TcpInfo::parse(&[])] {
            assert!(info.is_empty());
            assert_eq!(info.state(), None);
            assert_eq!(info.fields().count(), 0);
            assert_eq!(std::format!("{info:?}"), "TcpInfo { len: 0 }");
        }
    }

    #[test]
    fn equality_is_by_the_bytes_kept() {
        let a = TcpInfo::parse(&[1, 2, 3]);
        let mut longer = [0u8; 300];
        longer[..3].copy_from_slice(&[1, 2, 3]);
        assert_eq!(a, TcpInfo::parse(&[1, 2, 3]));
        assert_ne!(a, TcpInfo::parse(&[1, 2]));
        assert_ne!(a, TcpInfo::parse(&longer[..4]));
        // Bytes past SIZE are ignored.
        let mut other = longer;
        other[TcpInfo::SIZE + 1] = 9;
        assert_eq!(TcpInfo::parse(&longer), TcpInfo::parse(&other));
    }

    #[test]
    fn debug_lists_fields_in_struct_order() {
        let s = std::format!("{:?}", TcpInfo::parse(&distinct_bytes(20)));
        let order = [
            "len",
            "state",
            "ca_state",
            "retransmits",
            "probes",
            "backoff",
            "options",
            "snd_wscale",
            "rcv_wscale",
            "delivery_rate_app_limited",
            "fastopen_client_fail",
            "rto",
            "ato",
            "snd_mss",
        ];
        let mut at = 0;
        for name in order {
            let pos = s[at..]
                .find(&std::format!("{name}: "))
                .unwrap_or_else(|| panic!("{name} missing or out of order in {s}"));
            at += pos + name.len();
        }
        assert!(!s.contains("rcv_mss"), "{s}");
    }

    /// Real kernel bytes (x86_64, Linux 6.18), captured on loopback.
    #[cfg(target_endian = "little")]
    #[test]
    fn captured_kernel_bytes() {
        // getsockopt(TCP_INFO) with a 280-byte buffer: a client that sent
        // 5000 bytes and received 100. Linux 6.18 returns 280 bytes (AccECN
        // counters follow total_rto_time); we keep the 248 we know.
        let raw = include_bytes!("../tests/data/established_client_linux6.18.bin");
        assert_eq!(raw.len(), 280);
        let c = TcpInfo::parse(raw);
        assert_eq!(c.len(), TcpInfo::SIZE);
        assert_eq!(
            &raw[..8],
            &[
                0x01, // tcpi_state: TCP_ESTABLISHED
                0x00, // tcpi_ca_state: TCP_CA_Open
                0x00, // tcpi_retransmits
                0x00, // tcpi_probes
                0x00, // tcpi_backoff
                0x07, // tcpi_options: TIMESTAMPS | SACK | WSCALE
                0xaa, // tcpi_snd_wscale : 4 = 10, tcpi_rcv_wscale : 4 = 10
                0x01, // tcpi_delivery_rate_app_limited : 1 = 1, fastopen_client_fail : 2 = 0
            ]
        );
        assert_eq!(c.state(), Some(TcpState::Established));
        assert_eq!(c.ca_state(), Some(CaState::Open));
        assert_eq!(
            c.options(),
            Some(TcpiOptions::TIMESTAMPS | TcpiOptions::SACK | TcpiOptions::WSCALE)
        );
        assert_eq!((c.snd_wscale(), c.rcv_wscale()), (Some(10), Some(10)));
        assert_eq!(c.delivery_rate_app_limited(), Some(true));
        assert_eq!(
            c.fastopen_client_fail(),
            Some(FastOpenClientFail::Unspecified)
        );
        assert_eq!(c.bytes_acked(), Some(5001)); // 5000 + the SYN
        assert_eq!(c.bytes_received(), Some(100));
        assert_eq!(c.bytes_sent(), Some(5000));
        assert_eq!(c.rtt(), Some(24));
        assert_eq!(c.unacked(), Some(0));
        assert!(c.total_rto_time().is_some());

        // The same socket state read through sock_diag's INET_DIAG_INFO.
        let d = TcpInfo::parse(include_bytes!("../tests/data/inet_diag_info_linux6.18.bin"));
        assert_eq!(d.state(), Some(TcpState::Established));
        assert_eq!(d.bytes_acked(), Some(50_001));

        // A listener made with backlog 8: tcpi_sacked is the backlog,
        // tcpi_unacked the accept queue.
        let l = TcpInfo::parse(include_bytes!("../tests/data/listener_backlog8.bin"));
        assert_eq!(l.state(), Some(TcpState::Listen));
        assert_eq!((l.unacked(), l.sacked()), (Some(0), Some(8)));

        // What a Linux 2.6 kernel returned: the first 104 bytes.
        let old = TcpInfo::parse(include_bytes!("../tests/data/truncated_104.bin"));
        assert_eq!(old.len(), 104);
        assert_eq!(old.total_retrans(), Some(0));
        assert_eq!(old.pacing_rate(), None);
        assert_eq!(old.fields().last().map(|m| m.name), Some("total_retrans"));
        assert_eq!(old.rtt(), c.rtt());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_like_the_kernel_struct(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            check_against_kernel_struct(&bytes);
        }
    }
}
