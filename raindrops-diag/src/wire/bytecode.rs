//! inet_diag filter bytecode (`INET_DIAG_REQ_BYTECODE`): instructions and
//! an encoder; with the `bytecode-check` feature (a tool for tests and
//! fuzzing), a validator that accepts exactly what the kernel's
//! `inet_diag_bc_audit()` accepts and an interpreter with the semantics of
//! `inet_diag_bc_run()`.
//!
//! A program is a sequence of instructions (`struct inet_diag_bc_op`:
//! code, `yes`, `no`) each followed by its operand. The kernel runs it for
//! every socket: when the condition holds it moves `yes` bytes forward,
//! otherwise `no` bytes. Landing exactly on the end accepts the socket;
//! jumping 4 bytes past the end rejects it.

use super::WireError;
use super::inet_diag::{AF_INET, AF_INET6, AF_UNSPEC, addr_bytes, family_of};
use core::net::SocketAddr;

/// Instruction codes (`INET_DIAG_BC_*`).
pub mod code {
    /// `INET_DIAG_BC_NOP`.
    pub const NOP: u8 = 0;
    /// `INET_DIAG_BC_JMP`: always takes the `no` branch.
    pub const JMP: u8 = 1;
    /// `INET_DIAG_BC_S_GE`: local port ≥ operand.
    pub const S_GE: u8 = 2;
    /// `INET_DIAG_BC_S_LE`: local port ≤ operand.
    pub const S_LE: u8 = 3;
    /// `INET_DIAG_BC_D_GE`: remote port ≥ operand.
    pub const D_GE: u8 = 4;
    /// `INET_DIAG_BC_D_LE`: remote port ≤ operand.
    pub const D_LE: u8 = 5;
    /// `INET_DIAG_BC_AUTO`: the local port was chosen by the kernel.
    pub const AUTO: u8 = 6;
    /// `INET_DIAG_BC_S_COND`: local address prefix and port.
    pub const S_COND: u8 = 7;
    /// `INET_DIAG_BC_D_COND`: remote address prefix and port.
    pub const D_COND: u8 = 8;
    /// `INET_DIAG_BC_DEV_COND`: bound interface index.
    pub const DEV_COND: u8 = 9;
    /// `INET_DIAG_BC_MARK_COND`: socket mark (needs `CAP_NET_ADMIN`).
    pub const MARK_COND: u8 = 10;
    /// `INET_DIAG_BC_S_EQ`: local port = operand.
    pub const S_EQ: u8 = 11;
    /// `INET_DIAG_BC_D_EQ`: remote port = operand.
    pub const D_EQ: u8 = 12;
    /// `INET_DIAG_BC_CGROUP_COND`: cgroup v2 id.
    pub const CGROUP_COND: u8 = 13;
}

/// Size of `struct inet_diag_bc_op`, in bytes.
pub const OP_LEN: usize = 4;
/// Size of `struct inet_diag_hostcond` without its address, in bytes.
pub const HOSTCOND_LEN: usize = 8;
/// `SOCK_BINDPORT_LOCK`: the user chose the local port (`INET_DIAG_BC_AUTO`).
pub const SOCK_BINDPORT_LOCK: u8 = 8;

/// `struct inet_diag_hostcond`: an address prefix and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostCond {
    /// `AF_UNSPEC` (any address), `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Prefix length in bits; 0 matches any address of the family (and,
    /// for `AF_INET`, IPv4-mapped IPv6 addresses).
    pub prefix_len: u8,
    /// The port, or -1 for any port.
    pub port: i32,
    /// The address: 0 bytes used for `AF_UNSPEC`, 4 for `AF_INET`, 16 for
    /// `AF_INET6`; the rest is ignored (keep it zero for roundtrips).
    pub addr: [u8; 16],
}

impl HostCond {
    /// Bytes of address the family carries, or `None` for an unknown
    /// family (which the kernel refuses).
    pub const fn addr_len(family: u8) -> Option<usize> {
        match family {
            AF_UNSPEC => Some(0),
            AF_INET => Some(4),
            AF_INET6 => Some(16),
            _ => None,
        }
    }

    /// Matches the local address and port of `addr` the way the Ruby gem
    /// and `ss 'src ADDR'` do: an unspecified address (`0.0.0.0`, `::`)
    /// matches every address of its family (IPv4 also matching
    /// IPv4-mapped IPv6 sockets), any other the exact address.
    pub fn for_addr(addr: &SocketAddr) -> Self {
        let ip = addr.ip();
        let prefix_len = if ip.is_unspecified() {
            0
        } else if addr.is_ipv4() {
            32
        } else {
            128
        };
        HostCond {
            family: family_of(addr),
            prefix_len,
            port: i32::from(addr.port()),
            addr: addr_bytes(&ip),
        }
    }

    /// Any address, port `port`.
    pub const fn port(port: u16) -> Self {
        HostCond {
            family: AF_UNSPEC,
            prefix_len: 0,
            port: port as i32,
            addr: [0; 16],
        }
    }
}

/// A filter operation with its operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `INET_DIAG_BC_NOP`: always true.
    Nop,
    /// `INET_DIAG_BC_JMP`: always false (take `no`).
    Jmp,
    /// `INET_DIAG_BC_S_GE`.
    SGe(u16),
    /// `INET_DIAG_BC_S_LE`.
    SLe(u16),
    /// `INET_DIAG_BC_D_GE`.
    DGe(u16),
    /// `INET_DIAG_BC_D_LE`.
    DLe(u16),
    /// `INET_DIAG_BC_AUTO`.
    Auto,
    /// `INET_DIAG_BC_S_COND`.
    SCond(HostCond),
    /// `INET_DIAG_BC_D_COND`.
    DCond(HostCond),
    /// `INET_DIAG_BC_DEV_COND`.
    DevCond(u32),
    /// `INET_DIAG_BC_MARK_COND`: `(mark & mask) == mark`.
    MarkCond {
        /// The value the masked mark must equal.
        mark: u32,
        /// The mask.
        mask: u32,
    },
    /// `INET_DIAG_BC_S_EQ`.
    SEq(u16),
    /// `INET_DIAG_BC_D_EQ`.
    DEq(u16),
    /// `INET_DIAG_BC_CGROUP_COND`.
    CgroupCond(u64),
    /// An unknown code (the kernel refuses it); no operand.
    Unknown(u8),
}

impl Op {
    /// The instruction code.
    pub const fn code(&self) -> u8 {
        match self {
            Op::Nop => code::NOP,
            Op::Jmp => code::JMP,
            Op::SGe(_) => code::S_GE,
            Op::SLe(_) => code::S_LE,
            Op::DGe(_) => code::D_GE,
            Op::DLe(_) => code::D_LE,
            Op::Auto => code::AUTO,
            Op::SCond(_) => code::S_COND,
            Op::DCond(_) => code::D_COND,
            Op::DevCond(_) => code::DEV_COND,
            Op::MarkCond { .. } => code::MARK_COND,
            Op::SEq(_) => code::S_EQ,
            Op::DEq(_) => code::D_EQ,
            Op::CgroupCond(_) => code::CGROUP_COND,
            Op::Unknown(c) => *c,
        }
    }

    /// The bytes of instruction plus operand (the kernel's `min_len`).
    pub const fn len(&self) -> usize {
        OP_LEN
            + match self {
                Op::SGe(_) | Op::SLe(_) | Op::DGe(_) | Op::DLe(_) | Op::SEq(_) | Op::DEq(_) => {
                    OP_LEN
                }
                Op::SCond(c) | Op::DCond(c) => {
                    HOSTCOND_LEN
                        + match HostCond::addr_len(c.family) {
                            Some(n) => n,
                            None => 0,
                        }
                }
                Op::DevCond(_) => 4,
                Op::MarkCond { .. } => 8,
                Op::CgroupCond(_) => 8,
                Op::Nop | Op::Jmp | Op::Auto | Op::Unknown(_) => 0,
            }
    }

    /// Always false: an instruction is never empty (kept for the `len`
    /// convention).
    pub const fn is_empty(&self) -> bool {
        false
    }
}

/// One instruction: an operation and its two jump distances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// The operation and operand.
    pub op: Op,
    /// Bytes to move forward when the condition holds.
    pub yes: u8,
    /// Bytes to move forward when it does not.
    pub no: u16,
}

impl Instr {
    /// The bytes [`Instr::emit`] writes (the instruction and its operand).
    pub const fn buffer_len(&self) -> usize {
        self.op.len()
    }

    /// Writes the instruction at the start of `b`, returning its length.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if it does not fit;
    /// [`WireError::BadBytecode`] for a host condition of an unknown
    /// family, whose length cannot be known.
    pub fn emit(&self, b: &mut [u8]) -> Result<usize, WireError> {
        let need = self.buffer_len();
        let Some(b) = b.get_mut(..need) else {
            return Err(WireError::BufferTooSmall { need });
        };
        b[0] = self.op.code();
        b[1] = self.yes;
        b[2..4].copy_from_slice(&self.no.to_ne_bytes());
        let port_op = |b: &mut [u8], p: u16| {
            b[4..8].fill(0);
            b[6..8].copy_from_slice(&p.to_ne_bytes());
        };
        match self.op {
            Op::SGe(p) | Op::SLe(p) | Op::DGe(p) | Op::DLe(p) | Op::SEq(p) | Op::DEq(p) => {
                port_op(b, p)
            }
            Op::SCond(c) | Op::DCond(c) => {
                let Some(n) = HostCond::addr_len(c.family) else {
                    return Err(WireError::BadBytecode { offset: 0 });
                };
                b[4] = c.family;
                b[5] = c.prefix_len;
                b[6..8].fill(0);
                b[8..12].copy_from_slice(&c.port.to_ne_bytes());
                b[12..12 + n].copy_from_slice(&c.addr[..n]);
            }
            Op::DevCond(i) => b[4..8].copy_from_slice(&i.to_ne_bytes()),
            Op::MarkCond { mark, mask } => {
                b[4..8].copy_from_slice(&mark.to_ne_bytes());
                b[8..12].copy_from_slice(&mask.to_ne_bytes());
            }
            Op::CgroupCond(id) => b[4..12].copy_from_slice(&id.to_ne_bytes()),
            Op::Nop | Op::Jmp | Op::Auto | Op::Unknown(_) => {}
        }
        Ok(need)
    }

    /// Reads the instruction at the start of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::BadBytecode`] (offset 0) if the operand does not fit or
    /// a host condition has an unknown family.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let bad = WireError::BadBytecode { offset: 0 };
        let Some(h) = b.get(..OP_LEN) else {
            return Err(bad);
        };
        let yes = h[1];
        let no = u16::from_ne_bytes([h[2], h[3]]);
        let word = |i: usize| -> Result<u32, WireError> {
            let s = b.get(i..i + 4).ok_or(bad)?;
            Ok(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        };
        let port = || -> Result<u16, WireError> {
            let s = b.get(6..8).ok_or(bad)?;
            Ok(u16::from_ne_bytes([s[0], s[1]]))
        };
        let cond = || -> Result<HostCond, WireError> {
            let s = b.get(4..12).ok_or(bad)?;
            let family = s[0];
            let n = HostCond::addr_len(family).ok_or(bad)?;
            let a = b.get(12..12 + n).ok_or(bad)?;
            let mut addr = [0; 16];
            addr[..n].copy_from_slice(a);
            Ok(HostCond {
                family,
                prefix_len: s[1],
                port: i32::from_ne_bytes([s[4], s[5], s[6], s[7]]),
                addr,
            })
        };
        let op = match h[0] {
            code::NOP => Op::Nop,
            code::JMP => Op::Jmp,
            code::S_GE => Op::SGe(port()?),
            code::S_LE => Op::SLe(port()?),
            code::D_GE => Op::DGe(port()?),
            code::D_LE => Op::DLe(port()?),
            code::AUTO => Op::Auto,
            code::S_COND => Op::SCond(cond()?),
            code::D_COND => Op::DCond(cond()?),
            code::DEV_COND => Op::DevCond(word(4)?),
            code::MARK_COND => Op::MarkCond {
                mark: word(4)?,
                mask: word(8)?,
            },
            code::S_EQ => Op::SEq(port()?),
            code::D_EQ => Op::DEq(port()?),
            code::CGROUP_COND => {
                let s = b.get(4..12).ok_or(bad)?;
                let mut a = [0; 8];
                a.copy_from_slice(s);
                Op::CgroupCond(u64::from_ne_bytes(a))
            }
            c => Op::Unknown(c),
        };
        Ok(Instr { op, yes, no })
    }
}

#[cfg(any(test, feature = "bytecode-check"))]
#[cfg_attr(docsrs, doc(cfg(feature = "bytecode-check")))]
/// What the interpreter knows about one socket (the kernel's
/// `struct inet_diag_entry`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Entry {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Local address (IPv4 in the first 4 bytes).
    pub saddr: [u8; 16],
    /// Remote address.
    pub daddr: [u8; 16],
    /// Local port.
    pub sport: u16,
    /// Remote port.
    pub dport: u16,
    /// `sk_userlocks` (`SOCK_BINDPORT_LOCK` when the user chose the port).
    pub userlocks: u8,
    /// Bound interface index.
    pub ifindex: u32,
    /// Socket mark.
    pub mark: u32,
    /// cgroup v2 id.
    pub cgroup_id: u64,
}

#[cfg(any(test, feature = "bytecode-check"))]
impl Entry {
    /// An entry for a socket with these local and remote addresses.
    pub fn new(local: &SocketAddr, remote: &SocketAddr) -> Self {
        Entry {
            family: family_of(local),
            saddr: addr_bytes(&local.ip()),
            daddr: addr_bytes(&remote.ip()),
            sport: local.port(),
            dport: remote.port(),
            ..Entry::default()
        }
    }
}

/// A view of a filter program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytecode<'a> {
    bytes: &'a [u8],
}

impl<'a> Bytecode<'a> {
    /// Views `bytes` (the payload of `INET_DIAG_REQ_BYTECODE`).
    pub const fn new(bytes: &'a [u8]) -> Self {
        Bytecode { bytes }
    }

    /// The program bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The instructions on the `yes` chain from the start (the order the
    /// validator walks them). Stops after the first undecodable one with
    /// an `Err`, or at a zero `yes`.
    pub fn instrs(&self) -> Instrs<'a> {
        Instrs {
            bytes: self.bytes,
            at: 0,
            done: false,
        }
    }
}

/// The validator and the interpreter (feature `bytecode-check`): tools
/// for tests and fuzzing that check a filter as the kernel would; the
/// queries do not need them.
#[cfg(any(test, feature = "bytecode-check"))]
#[cfg_attr(docsrs, doc(cfg(feature = "bytecode-check")))]
impl Bytecode<'_> {
    /// Checks the program as the kernel's `inet_diag_bc_audit()` does
    /// (for a caller with `CAP_NET_ADMIN`, which `MARK_COND` needs; and
    /// with cgroup support, which `CGROUP_COND` needs).
    ///
    /// # Errors
    ///
    /// [`WireError::BadBytecode`] with the offset of the first instruction
    /// the kernel would refuse (`EINVAL`).
    pub fn validate(&self) -> Result<(), WireError> {
        let total = self.bytes.len();
        if total < OP_LEN {
            return Err(WireError::BadBytecode { offset: 0 });
        }
        let mut at = 0usize;
        while at < total {
            let len = total - at;
            let bad = WireError::BadBytecode { offset: at };
            let rest = &self.bytes[at..];
            let Some(h) = rest.get(..OP_LEN) else {
                return Err(bad);
            };
            let (c, yes, no) = (
                h[0],
                usize::from(h[1]),
                usize::from(u16::from_ne_bytes([h[2], h[3]])),
            );
            let min_len = match c {
                code::S_COND | code::D_COND => {
                    // Host condition: the fixed part, then the address.
                    let Some(cond) = rest.get(OP_LEN..OP_LEN + HOSTCOND_LEN) else {
                        return Err(bad);
                    };
                    let Some(n) = HostCond::addr_len(cond[0]) else {
                        return Err(bad);
                    };
                    let min = OP_LEN + HOSTCOND_LEN + n;
                    if len < min || usize::from(cond[1]) > 8 * n {
                        return Err(bad);
                    }
                    min
                }
                code::DEV_COND => OP_LEN + 4,
                code::S_EQ | code::S_GE | code::S_LE | code::D_EQ | code::D_GE | code::D_LE => {
                    OP_LEN + OP_LEN
                }
                code::MARK_COND => OP_LEN + 8,
                code::CGROUP_COND => OP_LEN + 8,
                code::AUTO | code::JMP | code::NOP => OP_LEN,
                _ => return Err(bad),
            };
            if len < min_len {
                return Err(bad);
            }
            if c != code::NOP {
                if no < min_len || no > len + 4 || no & 3 != 0 {
                    return Err(bad);
                }
                if no < len && !self.valid_cc(len - no) {
                    return Err(bad);
                }
            }
            if yes < min_len || yes > len + 4 || yes & 3 != 0 {
                return Err(bad);
            }
            at = match at.checked_add(yes) {
                Some(a) => a,
                None => return Err(bad),
            };
        }
        // Jumping past the end on the `yes` chain is refused.
        if at == total {
            Ok(())
        } else {
            Err(WireError::BadBytecode { offset: total })
        }
    }

    // The kernel's valid_cc(): is `cc` bytes before the end an instruction
    // boundary reached by following `yes` from the start?
    fn valid_cc(&self, cc: usize) -> bool {
        let mut len = self.bytes.len();
        let mut at = 0usize;
        loop {
            if cc > len {
                return false;
            }
            if cc == len {
                return true;
            }
            let Some(&yes) = self.bytes.get(at + 1) else {
                return false;
            };
            let yes = usize::from(yes);
            if yes < 4 || yes & 3 != 0 || yes > len {
                return false;
            }
            len -= yes;
            at += yes;
        }
    }

    /// Runs the program for `entry` with the kernel's semantics and says
    /// whether the socket would be reported.
    ///
    /// Meant for programs that passed [`Bytecode::validate`]; on any other
    /// it never panics or loops, and returns `false` where the kernel's
    /// behaviour would be undefined.
    pub fn run(&self, e: &Entry) -> bool {
        let total = self.bytes.len();
        let mut at = 0usize;
        while at < total {
            let Ok(ins) = Instr::parse(&self.bytes[at..]) else {
                return false;
            };
            let yes = match ins.op {
                Op::Nop => true,
                Op::Jmp => false,
                Op::SEq(p) => e.sport == p,
                Op::SGe(p) => e.sport >= p,
                Op::SLe(p) => e.sport <= p,
                Op::DEq(p) => e.dport == p,
                Op::DGe(p) => e.dport >= p,
                Op::DLe(p) => e.dport <= p,
                Op::Auto => e.userlocks & SOCK_BINDPORT_LOCK == 0,
                Op::SCond(c) => cond_matches(&c, e.family, &e.saddr, e.sport),
                Op::DCond(c) => cond_matches(&c, e.family, &e.daddr, e.dport),
                Op::DevCond(i) => i == e.ifindex,
                Op::MarkCond { mark, mask } => e.mark & mask == mark,
                Op::CgroupCond(id) => id == e.cgroup_id,
                Op::Unknown(_) => return false,
            };
            let step = if yes {
                usize::from(ins.yes)
            } else {
                usize::from(ins.no)
            };
            if step < OP_LEN {
                return false;
            }
            at = at.saturating_add(step);
        }
        at == total
    }
}

#[cfg(any(test, feature = "bytecode-check"))]
/// The kernel's host-condition match, including its IPv4-mapped special
/// case.
fn cond_matches(c: &HostCond, family: u8, addr: &[u8; 16], port: u16) -> bool {
    if c.port != -1 && c.port != i32::from(port) {
        return false;
    }
    if c.family != AF_UNSPEC && c.family != family {
        if family == AF_INET6 && c.family == AF_INET {
            let mapped = addr[..10].iter().all(|&b| b == 0) && addr[10] == 0xff && addr[11] == 0xff;
            return mapped && prefix_match(&addr[12..16], &c.addr[..4], c.prefix_len);
        }
        return false;
    }
    if c.prefix_len == 0 {
        return true;
    }
    prefix_match(addr, &c.addr, c.prefix_len)
}

#[cfg(any(test, feature = "bytecode-check"))]
fn prefix_match(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if whole > a.len() || whole > b.len() {
        return false;
    }
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    match (a.get(whole), b.get(whole)) {
        (Some(x), Some(y)) => {
            let mask = 0xffu8 << (8 - rest);
            x & mask == y & mask
        }
        _ => false,
    }
}

/// Iterator over the instructions of a [`Bytecode`], with their offsets.
#[derive(Clone, Debug)]
pub struct Instrs<'a> {
    bytes: &'a [u8],
    at: usize,
    done: bool,
}

impl Iterator for Instrs<'_> {
    type Item = Result<(usize, Instr), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.at >= self.bytes.len() {
            return None;
        }
        match Instr::parse(&self.bytes[self.at..]) {
            Ok(i) => {
                let at = self.at;
                if i.yes == 0 {
                    self.done = true;
                }
                self.at = self.at.saturating_add(usize::from(i.yes));
                Some(Ok((at, i)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.at(self.at)))
            }
        }
    }
}

/// Writes a program instruction by instruction into a caller's buffer.
#[derive(Debug)]
pub struct BytecodeWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> BytecodeWriter<'b> {
    /// Starts an empty program in `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        BytecodeWriter { buf, len: 0 }
    }

    /// Appends `ins` and returns its offset.
    ///
    /// # Errors
    ///
    /// As [`Instr::emit`].
    pub fn push(&mut self, ins: &Instr) -> Result<usize, WireError> {
        let at = self.len;
        let n = ins.emit(&mut self.buf[at..]).map_err(|e| match e {
            WireError::BufferTooSmall { need } => WireError::BufferTooSmall {
                need: need.saturating_add(at),
            },
            e => e.at(at),
        })?;
        self.len += n;
        Ok(at)
    }

    /// The bytes written so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The program written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Writes a program that accepts sockets whose local address and port
/// match `addr` (see [`HostCond::for_addr`]) and returns its length.
///
/// # Errors
///
/// [`WireError::BufferTooSmall`] if `buf` is shorter than 28 bytes (IPv6)
/// or 16 (IPv4).
pub fn local_addr_filter(buf: &mut [u8], addr: &SocketAddr) -> Result<usize, WireError> {
    let op = Op::SCond(HostCond::for_addr(addr));
    let len = op.len();
    // One instruction: `yes` lands on the end (accept), `no` 4 past (reject).
    let ins = Instr {
        op,
        yes: len as u8,
        no: (len + 4) as u16,
    };
    ins.emit(buf)
}

/// Most ports [`local_ports_filter`] takes (its jumps are 16-bit).
pub const MAX_FILTER_PORTS: usize = 4095;

/// Writes a program that accepts sockets whose local port is one of
/// `ports` (any address) and returns its length: for each port a host
/// condition, and a jump to the end when it matches.
///
/// # Errors
///
/// [`WireError::BufferTooSmall`] if `buf` is shorter than 16 bytes per
/// port; [`WireError::BadBytecode`] for no ports or more than
/// [`MAX_FILTER_PORTS`].
pub fn local_ports_filter(buf: &mut [u8], ports: &[u16]) -> Result<usize, WireError> {
    ports_filter(buf, ports.iter().copied(), ports.len())
}

/// Bytes per port of [`local_ports_filter`].
pub const PORT_FILTER_LEN: usize = 16;

/// [`local_ports_filter`] for `count` ports from an iterator.
pub(crate) fn ports_filter(
    buf: &mut [u8],
    ports: impl Iterator<Item = u16>,
    count: usize,
) -> Result<usize, WireError> {
    const GROUP: usize = PORT_FILTER_LEN;
    if count == 0 || count > MAX_FILTER_PORTS {
        return Err(WireError::BadBytecode { offset: 0 });
    }
    let total = count * GROUP;
    if buf.len() < total {
        return Err(WireError::BufferTooSmall { need: total });
    }
    let mut w = BytecodeWriter::new(buf);
    for (i, p) in ports.take(count).enumerate() {
        let remaining = total - i * GROUP;
        let last = i + 1 == count;
        w.push(&Instr {
            op: Op::SCond(HostCond::port(p)),
            yes: 12,
            // Not this port: the next group, or past the end (reject).
            no: if last {
                (remaining + 4) as u16
            } else {
                GROUP as u16
            },
        })?;
        w.push(&Instr {
            op: Op::Jmp,
            yes: 4,
            // This port: to the end (accept).
            no: (remaining - 12) as u16,
        })?;
    }
    if w.len() != total {
        // Fewer ports than announced: the last jump would not reject.
        return Err(WireError::BadBytecode { offset: w.len() });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn addr_filter_bytes() {
        let mut b = [0u8; 64];
        let n = local_addr_filter(&mut b, &sa("127.0.0.1:8080")).unwrap();
        assert_eq!(
            &b[..n],
            &[
                7, 16, 20, 0, // S_COND, yes = 16 (end), no = 20 (reject)
                2, 32, 0, 0, // AF_INET, prefix 32, padding
                0x90, 0x1f, 0, 0, // port 8080 (host order int)
                127, 0, 0, 1, // address
            ]
        );
        Bytecode::new(&b[..n]).validate().unwrap();
    }

    #[test]
    fn addr_filter_semantics() {
        let mut b = [0u8; 64];
        let remote = sa("127.0.0.9:5555");
        let mapped = |s: &str| {
            let v4: core::net::SocketAddrV4 = s.parse().unwrap();
            SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
        };
        let check = |filter: &str, local: SocketAddr| {
            let mut b2 = [0u8; 64];
            let n = local_addr_filter(&mut b2, &sa(filter)).unwrap();
            Bytecode::new(&b2[..n]).run(&Entry::new(&local, &remote))
        };
        let _ = &mut b;
        assert!(check("127.0.0.1:80", sa("127.0.0.1:80")));
        assert!(!check("127.0.0.1:80", sa("127.0.0.1:81")));
        assert!(!check("127.0.0.1:80", sa("127.0.0.2:80")));
        assert!(check("0.0.0.0:80", sa("127.0.0.2:80")));
        // IPv4 conditions match IPv4-mapped IPv6 sockets, not other IPv6.
        assert!(check("127.0.0.1:80", mapped("127.0.0.1:80")));
        assert!(check("0.0.0.0:80", mapped("10.0.0.1:80")));
        assert!(!check("0.0.0.0:80", sa("[::]:80")));
        assert!(!check("0.0.0.0:80", sa("[::1]:80")));
        // IPv6 conditions match only IPv6 sockets.
        assert!(check("[::]:80", sa("[::1]:80")));
        assert!(check("[::]:80", mapped("127.0.0.1:80")));
        assert!(!check("[::]:80", sa("127.0.0.1:80")));
        assert!(check("[::1]:80", sa("[::1]:80")));
        assert!(!check("[::1]:80", sa("[::2]:80")));
    }

    #[test]
    fn ports_filter() {
        let mut b = [0u8; 256];
        let n = local_ports_filter(&mut b, &[80, 443, 8080]).unwrap();
        let bc = Bytecode::new(&b[..n]);
        bc.validate().unwrap();
        let r = sa("10.0.0.1:1000");
        for (port, want) in [
            (80, true),
            (443, true),
            (8080, true),
            (81, false),
            (0, false),
        ] {
            let e = Entry::new(&sa(&std::format!("[::1]:{port}")), &r);
            assert_eq!(bc.run(&e), want, "{port}");
        }
        assert!(local_ports_filter(&mut b, &[]).is_err());
        assert_eq!(
            local_ports_filter(&mut b[..31], &[1, 2]),
            Err(WireError::BufferTooSmall { need: 32 })
        );
        let many: Vec<u16> = (1..=4095).collect();
        let mut big = std::vec![0u8; 4095 * 16];
        let n = local_ports_filter(&mut big, &many).unwrap();
        let bc = Bytecode::new(&big[..n]);
        bc.validate().unwrap();
        assert!(bc.run(&Entry::new(&sa("1.1.1.1:1"), &r)));
        assert!(bc.run(&Entry::new(&sa("1.1.1.1:4095"), &r)));
        assert!(!bc.run(&Entry::new(&sa("1.1.1.1:4096"), &r)));
    }

    #[test]
    fn validator_mirrors_the_kernel() {
        let ok = |b: &[u8]| Bytecode::new(b).validate().is_ok();
        // Empty and short programs are refused.
        assert!(!ok(&[]));
        assert!(!ok(&[0, 4, 0]));
        // NOP with yes = 4: accepted; its `no` is not checked.
        assert!(ok(&[0, 4, 0, 0]));
        // JMP's `no` must be at least 4 and aligned.
        assert!(!ok(&[1, 4, 0, 0]));
        assert!(ok(&[1, 4, 4, 0]));
        assert!(ok(&[1, 4, 8, 0])); // reject
        assert!(!ok(&[1, 4, 12, 0])); // beyond reject
        assert!(!ok(&[1, 4, 6, 0])); // unaligned
        // Unknown codes are refused.
        assert!(!ok(&[99, 4, 8, 0]));
        // A port comparison needs its operand.
        assert!(!ok(&[2, 4, 8, 0]));
        assert!(ok(&[2, 8, 12, 0, 0, 0, 80, 0]));
        // Host condition with a prefix longer than the address.
        let mut b = [0u8; 16];
        let n = Instr {
            op: Op::SCond(HostCond {
                family: AF_INET,
                prefix_len: 33,
                port: -1,
                addr: [0; 16],
            }),
            yes: 16,
            no: 20,
        }
        .emit(&mut b)
        .unwrap();
        assert!(!ok(&b[..n]));
        // A `no` jump into the middle of an instruction is refused.
        let mut b = [0u8; 16];
        let mut w = BytecodeWriter::new(&mut b);
        w.push(&Instr {
            op: Op::SGe(1),
            yes: 8,
            no: 4,
        })
        .unwrap();
        w.push(&Instr {
            op: Op::SLe(9),
            yes: 8,
            no: 12,
        })
        .unwrap();
        assert!(!ok(w.as_bytes()));
        // A `yes` chain overshooting the end is refused.
        assert!(!ok(&[0, 8, 0, 0]));
    }

    fn arb_cond() -> impl Strategy<Value = HostCond> {
        (
            prop_oneof![Just(AF_UNSPEC), Just(AF_INET), Just(AF_INET6)],
            any::<u8>(),
            any::<i32>(),
            any::<[u8; 16]>(),
        )
            .prop_map(|(family, p, port, mut addr)| {
                let n = HostCond::addr_len(family).unwrap();
                addr[n..].fill(0);
                HostCond {
                    family,
                    prefix_len: p % (8 * n as u8 + 1),
                    port,
                    addr,
                }
            })
    }

    pub(crate) fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Nop),
            Just(Op::Jmp),
            Just(Op::Auto),
            any::<u16>().prop_map(Op::SGe),
            any::<u16>().prop_map(Op::SLe),
            any::<u16>().prop_map(Op::DGe),
            any::<u16>().prop_map(Op::DLe),
            any::<u16>().prop_map(Op::SEq),
            any::<u16>().prop_map(Op::DEq),
            arb_cond().prop_map(Op::SCond),
            arb_cond().prop_map(Op::DCond),
            any::<u32>().prop_map(Op::DevCond),
            (any::<u32>(), any::<u32>()).prop_map(|(mark, mask)| Op::MarkCond { mark, mask }),
            any::<u64>().prop_map(Op::CgroupCond),
        ]
    }

    proptest! {
        // Encode a list of instructions whose `yes` steps to the next one
        // and whose `no` rejects: it validates and decodes to the same list.
        #[test]
        fn encode_validate_decode(ops in proptest::collection::vec(arb_op(), 1..12)) {
            let total: usize = ops.iter().map(Op::len).sum();
            let mut buf = std::vec![0u8; total];
            let mut w = BytecodeWriter::new(&mut buf);
            let mut want = Vec::new();
            let mut at = 0;
            for op in &ops {
                let ins = Instr { op: *op, yes: op.len() as u8, no: (total - at + 4) as u16 };
                w.push(&ins).unwrap();
                want.push((at, ins));
                at += op.len();
            }
            let bc = Bytecode::new(&buf);
            prop_assert_eq!(bc.validate(), Ok(()));
            let got: Result<Vec<_>, _> = bc.instrs().collect();
            prop_assert_eq!(got.unwrap(), want);
        }

        #[test]
        fn validate_and_run_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96),
                                        sport in any::<u16>(), dport in any::<u16>()) {
            let bc = Bytecode::new(&bytes);
            let valid = bc.validate().is_ok();
            let e = Entry { family: AF_INET, sport, dport, ..Entry::default() };
            let r = bc.run(&e);
            let _ = (valid, r, bc.instrs().count());
        }

        #[test]
        fn ports_filter_semantics(ports in proptest::collection::vec(any::<u16>(), 1..40), probe in any::<u16>()) {
            let mut b = std::vec![0u8; ports.len() * 16];
            let n = local_ports_filter(&mut b, &ports).unwrap();
            let bc = Bytecode::new(&b[..n]);
            prop_assert_eq!(bc.validate(), Ok(()));
            let e = Entry { family: AF_INET, sport: probe, ..Entry::default() };
            prop_assert_eq!(bc.run(&e), ports.contains(&probe));
        }
    }
}
