//! Random operation sequences against a plain `Vec<u64>` model: the counter
//! types behave exactly like wrapping machine words, and out-of-range
//! indexes are errors that change nothing.

use proptest::prelude::*;
use raindrops_core::{CounterArray, CounterView, Counters, Error, PaddedSlot};

#[derive(Clone, Debug)]
enum Op {
    Incr(usize, usize),
    Decr(usize, usize),
    Set(usize, usize),
    Get(usize),
    Snapshot(usize),
}

fn op() -> impl Strategy<Value = Op> {
    // Indexes go past the end on purpose; amounts include huge ones to wrap.
    let index = 0usize..12;
    let amount = prop_oneof![0usize..5, Just(usize::MAX), any::<usize>()];
    prop_oneof![
        (index.clone(), amount.clone()).prop_map(|(i, n)| Op::Incr(i, n)),
        (index.clone(), amount.clone()).prop_map(|(i, n)| Op::Decr(i, n)),
        (index.clone(), amount).prop_map(|(i, n)| Op::Set(i, n)),
        index.prop_map(Op::Get),
        (0usize..12).prop_map(Op::Snapshot),
    ]
}

fn run(array: &dyn CounterArray, ops: &[Op]) -> Result<(), TestCaseError> {
    let len = array.len();
    let mut model = vec![0u64; len];
    let oob = |i| Error::IndexOutOfRange { index: i, len };
    for op in ops {
        match *op {
            Op::Incr(i, n) => match model.get_mut(i) {
                Some(m) => {
                    *m = m.wrapping_add(n as u64);
                    prop_assert_eq!(array.incr(i, n), Ok(*m as usize));
                }
                None => prop_assert_eq!(array.incr(i, n), Err(oob(i))),
            },
            Op::Decr(i, n) => match model.get_mut(i) {
                Some(m) => {
                    *m = m.wrapping_sub(n as u64);
                    prop_assert_eq!(array.decr(i, n), Ok(*m as usize));
                }
                None => prop_assert_eq!(array.decr(i, n), Err(oob(i))),
            },
            Op::Set(i, v) => match model.get_mut(i) {
                Some(m) => {
                    *m = v as u64;
                    prop_assert_eq!(array.set(i, v), Ok(()));
                }
                None => prop_assert_eq!(array.set(i, v), Err(oob(i))),
            },
            Op::Get(i) => match model.get(i) {
                Some(m) => prop_assert_eq!(array.get(i), Ok(*m as usize)),
                None => prop_assert_eq!(array.get(i), Err(oob(i))),
            },
            Op::Snapshot(n) => {
                let mut buf = vec![usize::MAX - 1; n];
                if n >= len {
                    prop_assert_eq!(array.snapshot(&mut buf), Ok(len));
                    let got: Vec<u64> = buf[..len].iter().map(|&v| v as u64).collect();
                    prop_assert_eq!(&got, &model);
                } else {
                    prop_assert_eq!(
                        array.snapshot(&mut buf),
                        Err(Error::BufferTooSmall {
                            needed: len,
                            len: n
                        })
                    );
                    prop_assert!(buf.iter().all(|&v| v == usize::MAX - 1));
                }
            }
        }
    }
    let values: Vec<u64> = array.to_vec().into_iter().map(|v| v as u64).collect();
    prop_assert_eq!(values, model);
    Ok(())
}

proptest! {
    #[test]
    fn fixed_counters_match_model(ops in proptest::collection::vec(op(), 0..200)) {
        let c = Counters::<5>::new();
        run(&c, &ops)?;
    }

    #[test]
    fn views_match_model(len in 0usize..10, ops in proptest::collection::vec(op(), 0..200)) {
        let slots: Vec<PaddedSlot> = (0..len).map(|_| PaddedSlot::new(0)).collect();
        run(&CounterView::from_slots(&slots), &ops)?;
    }

    #[test]
    fn raw_strided_views_match_model(len in 0usize..8, words_per_slot in 1usize..9, ops in proptest::collection::vec(op(), 0..200)) {
        // Any stride that is a whole number of words, as a Ruby region may use.
        let mut backing = vec![0usize; len * words_per_slot + 1];
        let base = std::ptr::NonNull::from(&mut backing[..]).cast::<u8>();
        // SAFETY: `backing` holds len * stride bytes of usize-aligned words,
        // lives until the end of this test and is only accessed through the
        // view meanwhile.
        let view = unsafe {
            CounterView::from_raw_parts(base, len, words_per_slot * size_of::<usize>())
        };
        run(&view, &ops)?;
    }
}
