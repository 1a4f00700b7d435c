#![no_main]
//! Filter bytecode: (1) any bytes are validated and run without panics or
//! endless loops; (2) a program encoded from fuzzer-chosen instructions
//! validates, decodes to the same instructions, and runs.
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use raindrops_diag::wire::bytecode::{Bytecode, BytecodeWriter, Entry, HostCond, Instr, Op};

fn op(u: &mut Unstructured<'_>) -> arbitrary::Result<Op> {
    let cond = |u: &mut Unstructured<'_>| -> arbitrary::Result<HostCond> {
        let family = *u.choose(&[0u8, 2, 10])?;
        let n = HostCond::addr_len(family).unwrap_or(0);
        let mut addr = [0u8; 16];
        u.fill_buffer(&mut addr[..n])?;
        let prefix_len = u8::arbitrary(u)? % (8 * n as u8 + 1);
        Ok(HostCond {
            family,
            prefix_len,
            port: i32::arbitrary(u)?,
            addr,
        })
    };
    Ok(match u.int_in_range(0..=13u8)? {
        0 => Op::Nop,
        1 => Op::Jmp,
        2 => Op::SGe(u16::arbitrary(u)?),
        3 => Op::SLe(u16::arbitrary(u)?),
        4 => Op::DGe(u16::arbitrary(u)?),
        5 => Op::DLe(u16::arbitrary(u)?),
        6 => Op::Auto,
        7 => Op::SCond(cond(u)?),
        8 => Op::DCond(cond(u)?),
        9 => Op::DevCond(u32::arbitrary(u)?),
        10 => Op::MarkCond {
            mark: u32::arbitrary(u)?,
            mask: u32::arbitrary(u)?,
        },
        11 => Op::SEq(u16::arbitrary(u)?),
        12 => Op::DEq(u16::arbitrary(u)?),
        _ => Op::CgroupCond(u64::arbitrary(u)?),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let entry = Entry {
        family: *u.choose(&[2u8, 10]).unwrap_or(&2),
        saddr: <[u8; 16]>::arbitrary(&mut u).unwrap_or_default(),
        daddr: <[u8; 16]>::arbitrary(&mut u).unwrap_or_default(),
        sport: u16::arbitrary(&mut u).unwrap_or(0),
        dport: u16::arbitrary(&mut u).unwrap_or(0),
        ..Entry::default()
    };
    // (1) Raw bytes.
    let raw = Bytecode::new(data);
    let _ = raw.validate();
    let _ = raw.run(&entry);
    let _ = raw.instrs().count();
    // (2) Encode chosen instructions: `yes` to the next, `no` to reject.
    let mut ops = Vec::new();
    while ops.len() < 16 {
        match op(&mut u) {
            Ok(o) => ops.push(o),
            Err(_) => break,
        }
    }
    if ops.is_empty() {
        return;
    }
    let total: usize = ops.iter().map(Op::len).sum();
    let mut buf = vec![0u8; total];
    let mut w = BytecodeWriter::new(&mut buf);
    let mut want = Vec::new();
    let mut at = 0;
    for o in &ops {
        let ins = Instr {
            op: *o,
            yes: o.len() as u8,
            no: (total - at + 4) as u16,
        };
        w.push(&ins).unwrap();
        want.push((at, ins));
        at += o.len();
    }
    let bc = Bytecode::new(&buf);
    bc.validate().unwrap();
    let got: Vec<_> = bc.instrs().map(Result::unwrap).collect();
    assert_eq!(got, want);
    let _ = bc.run(&entry);
});
