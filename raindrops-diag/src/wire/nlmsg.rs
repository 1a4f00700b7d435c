//! Netlink messages: `struct nlmsghdr`, the stream of messages in one
//! datagram, the walk of a dump's reply ([`Reply`]), and `NLMSG_ERROR`
//! payloads (`struct nlmsgerr`).

use super::{Field, WireError, align4, ne_i32, ne_u16, ne_u32, ne_u32_at, put};
use crate::error::Error;
use bitflags::bitflags;
use core::fmt;
use raindrops_core::Errno;

pub(crate) mod field {
    use super::Field;
    pub(crate) const LENGTH: Field = 0..4;
    pub(crate) const TYPE: Field = 4..6;
    pub(crate) const FLAGS: Field = 6..8;
    pub(crate) const SEQ: Field = 8..12;
    pub(crate) const PID: Field = 12..16;
    pub(crate) const ERROR: Field = 0..4;
}

/// Length of `struct nlmsghdr` (`NLMSG_HDRLEN`), in bytes.
pub const HEADER_LEN: usize = 16;
/// Length of the fixed part of `struct nlmsgerr` (errno plus the header of
/// the acknowledged request), in bytes.
pub const ERR_LEN: usize = 4 + HEADER_LEN;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error or an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a multi-part reply (a dump).
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 4;
/// `TCPDIAG_GETSOCK`: the legacy inet_diag request (`struct inet_diag_req`)
/// that dumps IPv4 and IPv6 sockets in one walk.
pub const TCPDIAG_GETSOCK: u16 = 18;
/// `DCCPDIAG_GETSOCK`: the legacy inet_diag request for DCCP.
pub const DCCPDIAG_GETSOCK: u16 = 19;
/// `SOCK_DIAG_BY_FAMILY`: requests and replies of sock_diag (`inet_diag_req_v2`,
/// `unix_diag_req`).
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `SOCK_DESTROY`.
pub const SOCK_DESTROY: u16 = 21;

/// The type of a netlink message of the sock_diag family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NlMsgType {
    /// `NLMSG_NOOP`: to be ignored.
    Noop,
    /// `NLMSG_ERROR`: an errno (negative) or an acknowledgement (0).
    Error,
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    /// `NLMSG_OVERRUN`.
    Overrun,
    /// `TCPDIAG_GETSOCK`, the legacy inet_diag request and its replies.
    TcpDiagGetSock,
    /// `DCCPDIAG_GETSOCK`.
    DccpDiagGetSock,
    /// `SOCK_DIAG_BY_FAMILY`.
    SockDiagByFamily,
    /// `SOCK_DESTROY`.
    SockDestroy,
    /// Any other value, kept as is.
    Unknown(u16),
}

impl From<u16> for NlMsgType {
    fn from(v: u16) -> Self {
        match v {
            NLMSG_NOOP => NlMsgType::Noop,
            NLMSG_ERROR => NlMsgType::Error,
            NLMSG_DONE => NlMsgType::Done,
            NLMSG_OVERRUN => NlMsgType::Overrun,
            TCPDIAG_GETSOCK => NlMsgType::TcpDiagGetSock,
            DCCPDIAG_GETSOCK => NlMsgType::DccpDiagGetSock,
            SOCK_DIAG_BY_FAMILY => NlMsgType::SockDiagByFamily,
            SOCK_DESTROY => NlMsgType::SockDestroy,
            other => NlMsgType::Unknown(other),
        }
    }
}

impl From<NlMsgType> for u16 {
    fn from(v: NlMsgType) -> u16 {
        match v {
            NlMsgType::Noop => NLMSG_NOOP,
            NlMsgType::Error => NLMSG_ERROR,
            NlMsgType::Done => NLMSG_DONE,
            NlMsgType::Overrun => NLMSG_OVERRUN,
            NlMsgType::TcpDiagGetSock => TCPDIAG_GETSOCK,
            NlMsgType::DccpDiagGetSock => DCCPDIAG_GETSOCK,
            NlMsgType::SockDiagByFamily => SOCK_DIAG_BY_FAMILY,
            NlMsgType::SockDestroy => SOCK_DESTROY,
            NlMsgType::Unknown(v) => v,
        }
    }
}

bitflags! {
    /// `nlmsg_flags` (`NLM_F_*`). Unknown bits are kept.
    ///
    /// Some bits mean different things in requests and replies
    /// (`NLM_F_ROOT` is also `NLM_F_CAPPED` in an `NLMSG_ERROR`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct NlFlags: u16 {
        /// `NLM_F_REQUEST`: a request.
        const REQUEST = 0x01;
        /// `NLM_F_MULTI`: part of a multi-part reply ended by `NLMSG_DONE`.
        const MULTI = 0x02;
        /// `NLM_F_ACK`: reply with an acknowledgement.
        const ACK = 0x04;
        /// `NLM_F_ECHO`.
        const ECHO = 0x08;
        /// `NLM_F_DUMP_INTR`: the dump was inconsistent because the data
        /// changed while it ran; it must be restarted.
        const DUMP_INTR = 0x10;
        /// `NLM_F_DUMP_FILTERED`: the kernel applied the request's filter.
        const DUMP_FILTERED = 0x20;
        /// `NLM_F_ROOT` (requests) / `NLM_F_CAPPED` (errors: the acked
        /// request's payload is left out).
        const ROOT = 0x100;
        /// `NLM_F_MATCH` (requests) / `NLM_F_ACK_TLVS` (errors: extended
        /// acknowledgement attributes follow).
        const MATCH = 0x200;
        /// `NLM_F_DUMP` = `NLM_F_ROOT | NLM_F_MATCH`.
        const DUMP = 0x300;
        const _ = !0;
    }
}

/// A view of one netlink message (`struct nlmsghdr` and its payload).
///
/// [`NlMsg::new_checked`] makes sure that the header fits and that
/// `nlmsg_len` is at least the header and at most the buffer; the
/// accessors of a checked view never panic. The buffer may extend past
/// `nlmsg_len` (the next message of a datagram); [`NlMsg::payload`] stops at
/// `nlmsg_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlMsg<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NlMsg<T> {
    /// Wraps `buffer` without checking it; accessors may panic if it is
    /// shorter than the header or than `nlmsg_len`.
    pub const fn new_unchecked(buffer: T) -> Self {
        NlMsg { buffer }
    }

    /// Wraps `buffer` after checking the header and `nlmsg_len`.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if the header does not fit,
    /// [`WireError::BadLength`] if `nlmsg_len` is smaller than the header
    /// or larger than the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let msg = Self::new_unchecked(buffer);
        msg.check_len()?;
        Ok(msg)
    }

    /// Checks what [`NlMsg::new_checked`] checks.
    ///
    /// # Errors
    ///
    /// As [`NlMsg::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        let len = ne_u32(b, field::LENGTH) as usize;
        if len < HEADER_LEN || len > b.len() {
            return Err(WireError::BadLength { offset: 0 });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `nlmsg_len`: the length of header plus payload, in bytes.
    #[inline]
    pub fn len(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the message has no payload.
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }

    /// `nlmsg_type`.
    #[inline]
    pub fn msg_type(&self) -> NlMsgType {
        NlMsgType::from(ne_u16(self.buffer.as_ref(), field::TYPE))
    }

    /// `nlmsg_flags`.
    #[inline]
    pub fn flags(&self) -> NlFlags {
        NlFlags::from_bits_retain(ne_u16(self.buffer.as_ref(), field::FLAGS))
    }

    /// `nlmsg_seq`: the sequence number of the request this answers.
    #[inline]
    pub fn seq(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::SEQ)
    }

    /// `nlmsg_pid`: the sender's port id (0 for the kernel) in requests,
    /// the receiver's in replies.
    pub fn pid(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::PID)
    }

    /// The payload: the bytes after the header up to `nlmsg_len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let len = self.len() as usize;
        &self.buffer.as_ref()[HEADER_LEN..len]
    }
}

impl<'a> NlMsg<&'a [u8]> {
    /// The payload, borrowed for as long as the underlying bytes.
    pub fn into_payload(self) -> &'a [u8] {
        let len = self.len() as usize;
        &self.buffer[HEADER_LEN..len]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NlMsg<T> {
    /// Sets `nlmsg_len`.
    pub fn set_len(&mut self, v: u32) {
        put(self.buffer.as_mut(), field::LENGTH, &v.to_ne_bytes());
    }
    /// Sets `nlmsg_type`.
    pub fn set_msg_type(&mut self, v: NlMsgType) {
        put(
            self.buffer.as_mut(),
            field::TYPE,
            &u16::from(v).to_ne_bytes(),
        );
    }
    /// Sets `nlmsg_flags`.
    pub fn set_flags(&mut self, v: NlFlags) {
        put(self.buffer.as_mut(), field::FLAGS, &v.bits().to_ne_bytes());
    }
    /// Sets `nlmsg_seq`.
    pub fn set_seq(&mut self, v: u32) {
        put(self.buffer.as_mut(), field::SEQ, &v.to_ne_bytes());
    }
    /// Sets `nlmsg_pid`.
    pub fn set_pid(&mut self, v: u32) {
        put(self.buffer.as_mut(), field::PID, &v.to_ne_bytes());
    }
    /// The payload, mutable (up to `nlmsg_len`).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

/// The representation of a netlink header, for building requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NlMsgHeader {
    /// `nlmsg_type`.
    pub msg_type: NlMsgType,
    /// `nlmsg_flags`.
    pub flags: NlFlags,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid` (0: let the kernel fill in the socket's port id).
    pub pid: u32,
    /// Length of the payload that follows the header, in bytes.
    pub payload_len: usize,
}

impl NlMsgHeader {
    /// Reads the header of a checked message.
    pub fn parse<T: AsRef<[u8]>>(msg: &NlMsg<T>) -> Self {
        NlMsgHeader {
            msg_type: msg.msg_type(),
            flags: msg.flags(),
            seq: msg.seq(),
            pid: msg.pid(),
            payload_len: (msg.len() as usize).saturating_sub(HEADER_LEN),
        }
    }

    /// The bytes that [`NlMsgHeader::emit`] writes: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Writes the header at the start of `buf`; the payload is the caller's.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `buf` cannot hold
    /// [`NlMsgHeader::buffer_len`] bytes or the length exceeds `u32`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let need = self.buffer_len();
        if buf.len() < need {
            return Err(WireError::BufferTooSmall { need });
        }
        let len = u32::try_from(need).map_err(|_| WireError::BufferTooSmall { need })?;
        let mut msg = NlMsg::new_unchecked(buf);
        msg.set_len(len);
        msg.set_msg_type(self.msg_type);
        msg.set_flags(self.flags);
        msg.set_seq(self.seq);
        msg.set_pid(self.pid);
        Ok(())
    }
}

/// The messages of one received datagram, in order.
///
/// Each item is a checked [`NlMsg`] whose buffer starts at the message and
/// runs to the end of the datagram. A malformed message ends the iteration
/// with one `Err` carrying its offset in the datagram; nothing after it is
/// trusted.
#[derive(Clone, Debug)]
pub struct NlMsgs<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> NlMsgs<'a> {
    /// Iterates over the messages in `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        NlMsgs {
            buf,
            offset: 0,
            failed: false,
        }
    }

    /// The offset of the next message in the datagram.
    pub const fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for NlMsgs<'a> {
    type Item = Result<NlMsg<&'a [u8]>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.offset..];
        match NlMsg::new_checked(rest) {
            Ok(msg) => {
                // The last message of a datagram need not be padded.
                let step = align4(msg.len() as usize);
                self.offset = self.offset.saturating_add(step).min(self.buf.len());
                Some(Ok(msg))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.at(self.offset)))
            }
        }
    }
}

impl core::iter::FusedIterator for NlMsgs<'_> {}

/// The walk of one dump's reply, datagram after datagram: the one place
/// that applies the netlink hygiene rules to what the kernel sends
/// (`docs/netlink.md` of the repository).
///
/// [`Reply::datagram`] checks what `recvfrom` reported about a datagram
/// (its length against the buffer, its sender); [`Reply::next_msg`] then
/// hands out the data messages of the reply one by one, straight from the
/// receive buffer, and deals with everything else itself:
///
/// - a message with another sequence number (a stale reply) is skipped;
/// - a datagram from a sender other than the kernel (port id 0) is
///   skipped whole;
/// - a datagram longer than the buffer (`MSG_TRUNC`) is
///   [`Error::Truncated`];
/// - `NLM_F_DUMP_INTR` on any message of the reply is remembered
///   ([`Reply::finish`] then reports [`Error::Interrupted`], and the
///   caller restarts the dump);
/// - `NLMSG_ERROR` with an errno is [`Error::Kernel`], an acknowledgement
///   is skipped;
/// - `NLMSG_DONE` ends the reply, or is [`Error::Kernel`] when its
///   `dump_done_errno` says the dump failed;
/// - `NLMSG_NOOP` is skipped, `NLMSG_OVERRUN` is [`Error::Protocol`];
/// - a malformed header is [`Error::Wire`] with its offset in the
///   datagram.
///
/// After an error the walk of the datagram stops. Pure functions of the
/// bytes and what `recvfrom` reported, so the fuzzer drives exactly this
/// code.
///
/// ```
/// use raindrops_diag::wire::nlmsg::{NlFlags, NlMsgHeader, NlMsgType, Reply};
/// let mut buf = [0u8; 64];
/// let data = NlMsgHeader {
///     msg_type: NlMsgType::SockDiagByFamily,
///     flags: NlFlags::MULTI,
///     seq: 7,
///     pid: 0,
///     payload_len: 4,
/// };
/// data.emit(&mut buf).unwrap();
/// NlMsgHeader { msg_type: NlMsgType::Done, ..data }.emit(&mut buf[20..]).unwrap();
///
/// let mut reply = Reply::new(7);
/// let mut n = 0;
/// let done = reply.feed(&buf, 40, Some(0), &mut |m| {
///     assert_eq!(m.payload().len(), 4);
///     n += 1;
///     Ok(())
/// });
/// assert_eq!((done, n), (Ok(true), 1));
/// assert_eq!(reply.finish(), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    seq: u32,
    /// The next message of the current datagram.
    at: usize,
    /// The end of the current datagram in the buffer.
    end: usize,
    interrupted: bool,
    done: bool,
}

impl Reply {
    /// The reply to the request with sequence number `seq`, before its
    /// first datagram.
    pub const fn new(seq: u32) -> Self {
        Reply {
            seq,
            at: 0,
            end: 0,
            interrupted: false,
            done: false,
        }
    }

    /// The sequence number of the request.
    pub const fn seq(&self) -> u32 {
        self.seq
    }

    /// Whether `NLMSG_DONE` was seen: the reply is complete.
    pub const fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the kernel flagged a message of the reply
    /// `NLM_F_DUMP_INTR`.
    pub const fn is_interrupted(&self) -> bool {
        self.interrupted
    }

    /// Starts the walk of a datagram that `recvfrom` wrote into a buffer
    /// of `capacity` bytes, reporting `len` bytes (its full length, with
    /// `MSG_TRUNC`) from the netlink port id `sender` (`None` if it
    /// reported no sender).
    ///
    /// A datagram from a sender other than the kernel is skipped: the
    /// walk yields nothing. A missing sender is taken as the kernel's:
    /// Linux always reports one, and dropping a datagram could lose the
    /// end of the dump.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if `len` exceeds `capacity`: the tail of the
    /// datagram was lost, and counts would be short.
    pub fn datagram(
        &mut self,
        capacity: usize,
        len: usize,
        sender: Option<u32>,
    ) -> Result<(), Error> {
        self.at = 0;
        self.end = 0;
        if len > capacity {
            return Err(Error::Truncated { len, capacity });
        }
        if sender.is_none_or(|port| port == 0) {
            self.end = len;
        }
        Ok(())
    }

    /// The next data message of the reply in `buf`, the buffer the
    /// current datagram was received into (see [`Reply::datagram`]), or
    /// `None` at the end of the datagram or of the reply.
    #[inline]
    pub fn next_msg<'a>(&mut self, buf: &'a [u8]) -> Option<Result<NlMsg<&'a [u8]>, Error>> {
        while !self.done && self.at < self.end {
            let at = self.at;
            let Some(d) = buf.get(..self.end) else {
                return self.fail(Error::Truncated {
                    len: self.end,
                    capacity: buf.len(),
                });
            };
            let Some(h) = d.get(at..at + HEADER_LEN) else {
                return self.fail(WireError::Truncated { offset: at }.into());
            };
            let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
            if len < HEADER_LEN || len > d.len() - at {
                return self.fail(WireError::BadLength { offset: at }.into());
            }
            // The last message of a datagram need not be padded.
            self.at = at.saturating_add(align4(len)).min(self.end);
            if u32::from_ne_bytes([h[8], h[9], h[10], h[11]]) != self.seq {
                continue;
            }
            if u16::from_ne_bytes([h[6], h[7]]) & NlFlags::DUMP_INTR.bits() != 0 {
                self.interrupted = true;
            }
            let m = NlMsg::new_unchecked(&d[at..at + len]);
            match u16::from_ne_bytes([h[4], h[5]]) {
                NLMSG_NOOP => {}
                NLMSG_ERROR => match NlMsgErr::new_checked(m.into_payload()) {
                    Err(e) => return self.fail(e.at(at + HEADER_LEN).into()),
                    Ok(e) => {
                        if let Some(errno) = e.errno() {
                            return self.fail(Error::Kernel(errno));
                        }
                    }
                },
                NLMSG_DONE => {
                    // The dump's own error, if it ended early
                    // (`dump_done_errno`).
                    if let Some(v) = ne_u32_at(m.into_payload(), 0) {
                        if (v as i32) < 0 {
                            return self.fail(Error::Kernel(Errno::from_raw(v as i32)));
                        }
                    }
                    self.done = true;
                }
                NLMSG_OVERRUN => return self.fail(Error::Protocol),
                _ => return Some(Ok(m)),
            }
        }
        None
    }

    /// The data messages of the current datagram in `buf`, as an iterator
    /// over [`Reply::next_msg`].
    pub fn msgs<'r, 'a>(&'r mut self, buf: &'a [u8]) -> ReplyMsgs<'r, 'a> {
        ReplyMsgs { reply: self, buf }
    }

    /// Walks a whole received datagram ([`Reply::datagram`], then every
    /// data message to `each`); returns whether the reply is complete.
    ///
    /// # Errors
    ///
    /// Those of [`Reply::datagram`] and [`Reply::next_msg`], and whatever
    /// `each` returns.
    #[inline]
    pub fn feed(
        &mut self,
        buf: &[u8],
        len: usize,
        sender: Option<u32>,
        each: &mut impl FnMut(NlMsg<&[u8]>) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        self.datagram(buf.len(), len, sender)?;
        while let Some(m) = self.next_msg(buf) {
            each(m?)?;
        }
        Ok(self.done)
    }

    /// The outcome of the reply once complete: [`Error::Interrupted`] if
    /// the kernel flagged it inconsistent, [`Error::Protocol`] if it is
    /// not complete.
    ///
    /// # Errors
    ///
    /// As said.
    pub const fn finish(&self) -> Result<(), Error> {
        if !self.done {
            Err(Error::Protocol)
        } else if self.interrupted {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Ends the walk of the current datagram with `e`.
    #[cold]
    fn fail<T>(&mut self, e: Error) -> Option<Result<T, Error>> {
        self.at = self.end;
        Some(Err(e))
    }
}

/// The iterator of [`Reply::msgs`].
#[derive(Debug)]
pub struct ReplyMsgs<'r, 'a> {
    reply: &'r mut Reply,
    buf: &'a [u8],
}

impl<'a> Iterator for ReplyMsgs<'_, 'a> {
    type Item = Result<NlMsg<&'a [u8]>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.reply.next_msg(self.buf)
    }
}

/// A view of the payload of an `NLMSG_ERROR` message (`struct nlmsgerr`):
/// an errno, or 0 for an acknowledgement, and the header of the request it
/// answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlMsgErr<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NlMsgErr<T> {
    /// Wraps `buffer` without checking it; accessors may panic if it is
    /// shorter than 20 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        NlMsgErr { buffer }
    }

    /// Wraps the payload of an `NLMSG_ERROR` message.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if it is shorter than `struct nlmsgerr`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < ERR_LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        Ok(NlMsgErr { buffer })
    }

    /// The raw `error` field: 0 for an acknowledgement, else a negative
    /// errno.
    pub fn error(&self) -> i32 {
        ne_i32(self.buffer.as_ref(), field::ERROR)
    }

    /// The errno, or `None` for an acknowledgement.
    pub fn errno(&self) -> Option<Errno> {
        match self.error() {
            0 => None,
            e => Some(Errno::from_raw(e)),
        }
    }

    /// The header of the request this answers (its payload, when not
    /// capped, follows in the buffer).
    pub fn request(&self) -> NlMsg<&[u8]> {
        NlMsg::new_unchecked(&self.buffer.as_ref()[4..])
    }
}

impl fmt::Display for NlMsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NlMsgType::Unknown(v) => write!(f, "message type {v}"),
            other => fmt::Debug::fmt(other, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // NLMSG_DONE of a dump, as the kernel sends it (little-endian host).
    #[cfg(target_endian = "little")]
    const DONE: [u8; 20] = [
        0x14, 0x00, 0x00, 0x00, // nlmsg_len = 20
        0x03, 0x00, // nlmsg_type = NLMSG_DONE
        0x02, 0x00, // nlmsg_flags = NLM_F_MULTI
        0x2a, 0x00, 0x00, 0x00, // nlmsg_seq = 42
        0x39, 0x30, 0x00, 0x00, // nlmsg_pid = 12345
        0x00, 0x00, 0x00, 0x00, // dump_done_errno = 0
    ];

    #[test]
    #[cfg(target_endian = "little")]
    fn done_message() {
        let m = NlMsg::new_checked(&DONE[..]).unwrap();
        assert_eq!(m.len(), 20);
        assert_eq!(m.msg_type(), NlMsgType::Done);
        assert_eq!(m.flags(), NlFlags::MULTI);
        assert_eq!(m.seq(), 42);
        assert_eq!(m.pid(), 12345);
        assert_eq!(m.payload(), &[0, 0, 0, 0]);
        let h = NlMsgHeader::parse(&m);
        let mut out = [0u8; 20];
        h.emit(&mut out).unwrap();
        assert_eq!(out[..16], DONE[..16]);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(
            NlMsg::new_checked(&[0u8; 15][..]),
            Err(WireError::Truncated { offset: 0 })
        );
        let mut b = [0u8; 16];
        b[0] = 15;
        assert_eq!(
            NlMsg::new_checked(&b[..]),
            Err(WireError::BadLength { offset: 0 })
        );
        b[0] = 17;
        assert_eq!(
            NlMsg::new_checked(&b[..]),
            Err(WireError::BadLength { offset: 0 })
        );
    }

    #[test]
    fn stream_of_messages() {
        let mut buf = [0u8; 64];
        let h = NlMsgHeader {
            msg_type: NlMsgType::SockDiagByFamily,
            flags: NlFlags::MULTI,
            seq: 7,
            pid: 0,
            payload_len: 5, // padded to 8 in the stream
        };
        h.emit(&mut buf).unwrap();
        NlMsgHeader {
            payload_len: 4,
            msg_type: NlMsgType::Done,
            ..h
        }
        .emit(&mut buf[24..])
        .unwrap();
        let msgs: Result<std::vec::Vec<_>, _> = NlMsgs::new(&buf[..44]).collect();
        let msgs = msgs.unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[1].msg_type(), NlMsgType::Done);
        // A garbage tail is reported once, with its offset.
        let mut it = NlMsgs::new(&buf[..50]);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next(), Some(Err(WireError::Truncated { offset: 44 })));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn error_payload() {
        let mut p = [0u8; 20];
        p[..4].copy_from_slice(&(-2i32).to_ne_bytes());
        let e = NlMsgErr::new_checked(&p[..]).unwrap();
        assert_eq!(e.errno(), Some(Errno::from_raw(2)));
        assert!(NlMsgErr::new_checked(&p[..19]).is_err());
        p[..4].copy_from_slice(&i32::MIN.to_ne_bytes());
        assert_eq!(
            NlMsgErr::new_checked(&p[..]).unwrap().errno(),
            Some(Errno::from_raw(i32::MAX))
        );
    }

    /// Appends a message to a datagram; returns its padded length.
    fn put_msg(buf: &mut [u8], t: NlMsgType, flags: NlFlags, seq: u32, payload: &[u8]) -> usize {
        let h = NlMsgHeader {
            msg_type: t,
            flags,
            seq,
            pid: 0,
            payload_len: payload.len(),
        };
        h.emit(buf).unwrap();
        buf[16..16 + payload.len()].copy_from_slice(payload);
        align4(h.buffer_len())
    }

    /// Feeds `d[..n]` from `sender`; the first payload byte of each data
    /// message, and the outcome.
    fn walk(
        reply: &mut Reply,
        d: &[u8],
        n: usize,
        sender: Option<u32>,
    ) -> (std::vec::Vec<u8>, Result<bool, Error>) {
        let mut seen = std::vec::Vec::new();
        let r = reply.feed(d, n, sender, &mut |m| {
            seen.push(m.payload()[0]);
            Ok(())
        });
        (seen, r)
    }

    #[test]
    fn reply_rules() {
        use NlMsgType as T;
        let mut d = [0u8; 256];
        let mut n = 0;
        let multi = NlFlags::MULTI;
        n += put_msg(&mut d[n..], T::SockDiagByFamily, multi, 6, &[1; 8]); // stale
        n += put_msg(&mut d[n..], T::SockDiagByFamily, multi, 7, &[2; 8]);
        n += put_msg(&mut d[n..], T::Noop, NlFlags::empty(), 7, &[]);
        let intr = multi | NlFlags::DUMP_INTR;
        n += put_msg(&mut d[n..], T::SockDiagByFamily, intr, 7, &[3; 8]);
        n += put_msg(&mut d[n..], T::Done, multi, 7, &0i32.to_ne_bytes());
        n += put_msg(&mut d[n..], T::SockDiagByFamily, multi, 7, &[4; 8]); // after the end
        let mut reply = Reply::new(7);
        assert_eq!(
            walk(&mut reply, &d, n, Some(0)),
            (std::vec![2, 3], Ok(true))
        );
        assert!(reply.is_interrupted() && reply.is_done());
        assert_eq!(reply.finish(), Err(Error::Interrupted));

        // A sender other than the kernel: nothing; no sender: the kernel.
        let mut reply = Reply::new(7);
        assert_eq!(
            walk(&mut reply, &d, n, Some(4242)),
            (std::vec![], Ok(false))
        );
        assert_eq!(reply.finish(), Err(Error::Protocol));
        assert_eq!(walk(&mut reply, &d, n, None), (std::vec![2, 3], Ok(true)));
        // Another sequence number: nothing.
        let mut reply = Reply::new(8);
        assert_eq!(walk(&mut reply, &d, n, Some(0)), (std::vec![], Ok(false)));
        // Truncated: the reported length exceeds the buffer.
        let mut reply = Reply::new(7);
        let r = walk(&mut reply, &d[..n], n + 1, Some(0));
        assert_eq!(
            r.1,
            Err(Error::Truncated {
                len: n + 1,
                capacity: n
            })
        );
        // A datagram in several calls of next_msg, across an iterator.
        let mut reply = Reply::new(7);
        reply.datagram(d.len(), n, Some(0)).unwrap();
        assert_eq!(reply.msgs(&d).next().unwrap().unwrap().payload()[0], 2);
        assert_eq!(reply.next_msg(&d).unwrap().unwrap().payload()[0], 3);
        assert!(reply.next_msg(&d).is_none());
        // A buffer shorter than the datagram's announced length.
        let mut reply = Reply::new(7);
        reply.datagram(d.len(), n, Some(0)).unwrap();
        assert!(matches!(
            reply.next_msg(&d[..8]),
            Some(Err(Error::Truncated { .. }))
        ));
    }

    #[test]
    fn reply_errors() {
        use NlMsgType as T;
        let mut d = [0u8; 64];
        let run = |d: &[u8], n: usize| walk(&mut Reply::new(7), d, n, Some(0)).1;
        // NLMSG_ERROR carries the errno; an acknowledgement (0) is skipped.
        let mut e = [0u8; 20];
        e[..4].copy_from_slice(&(-95i32).to_ne_bytes());
        let n = put_msg(&mut d, T::Error, NlFlags::empty(), 7, &e);
        assert_eq!(run(&d, n), Err(Error::Kernel(Errno::from_raw(95))));
        e[..4].copy_from_slice(&0i32.to_ne_bytes());
        let n = put_msg(&mut d, T::Error, NlFlags::empty(), 7, &e);
        assert_eq!(run(&d, n), Ok(false));
        // A dump that ended with an error in NLMSG_DONE.
        let n = put_msg(&mut d, T::Done, NlFlags::MULTI, 7, &(-4i32).to_ne_bytes());
        assert_eq!(run(&d, n), Err(Error::Kernel(Errno::from_raw(4))));
        // NLMSG_DONE without dump_done_errno (old kernels).
        let n = put_msg(&mut d, T::Done, NlFlags::MULTI, 7, &[]);
        assert_eq!(run(&d, n), Ok(true));
        // A truncated error payload is malformed, not a panic.
        let n = put_msg(&mut d, T::Error, NlFlags::empty(), 7, &[0; 3]);
        assert!(matches!(run(&d, n), Err(Error::Wire(_))));
        let n = put_msg(&mut d, T::Overrun, NlFlags::empty(), 7, &[]);
        assert_eq!(run(&d, n), Err(Error::Protocol));
        // A header that lies about its length, with its offset.
        let mut n = put_msg(&mut d, T::SockDiagByFamily, NlFlags::MULTI, 7, &[9; 4]);
        d[n..n + 4].copy_from_slice(&99u32.to_ne_bytes());
        n += 16;
        let want = WireError::BadLength { offset: 20 };
        assert_eq!(run(&d, n), Err(Error::Wire(want)));
        // An error from `each` stops the walk.
        let mut reply = Reply::new(7);
        let r = reply.feed(&d, n, Some(0), &mut |_| Err(Error::Protocol));
        assert_eq!(r, Err(Error::Protocol));
    }

    proptest! {
        #[test]
        fn header_roundtrip(t in any::<u16>(), fl in any::<u16>(), seq in any::<u32>(),
                            pid in any::<u32>(), plen in 0usize..64) {
            let h = NlMsgHeader {
                msg_type: NlMsgType::from(t),
                flags: NlFlags::from_bits_retain(fl),
                seq, pid, payload_len: plen,
            };
            let mut buf = [0u8; 80];
            h.emit(&mut buf).unwrap();
            let m = NlMsg::new_checked(&buf[..h.buffer_len()]).unwrap();
            prop_assert_eq!(NlMsgHeader::parse(&m), h);
            prop_assert_eq!(u16::from(h.msg_type), t);
        }

        #[test]
        fn stream_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            for m in NlMsgs::new(&data).flatten() {
                let _ = (m.payload(), m.flags(), m.msg_type());
            }
        }

        /// The walker never panics, yields only messages of its sequence
        /// that lie inside the datagram, and agrees with `NlMsgs` on where
        /// they are.
        #[test]
        fn reply_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200),
                              seq in 0u32..3, extra in 0usize..8, sender in proptest::option::of(0u32..2)) {
            let mut reply = Reply::new(seq);
            let cap = data.len();
            let len = cap.saturating_sub(extra);
            if reply.datagram(cap, len, sender).is_ok() {
                while let Some(m) = reply.next_msg(&data) {
                    let Ok(m) = m else { break };
                    prop_assert_eq!(m.seq(), seq);
                    prop_assert!(m.len() as usize >= HEADER_LEN);
                    prop_assert!(!matches!(m.msg_type(), NlMsgType::Done | NlMsgType::Error | NlMsgType::Noop | NlMsgType::Overrun));
                }
            }
        }
    }
}
