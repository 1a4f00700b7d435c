//! The error type of the core crate.

use core::fmt;

/// What went wrong in a counter operation.
///
/// A small `Copy` value that allocates nothing; [`fmt::Display`] gives a
/// one-line message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A counter index was not below the length of the array (Ruby raises
    /// `ArgumentError: offset overrun` here).
    IndexOutOfRange {
        /// The index that was asked for.
        index: usize,
        /// The number of counters in the array.
        len: usize,
    },
    /// A caller's buffer was too short for the values to be written.
    BufferTooSmall {
        /// The number of elements needed.
        needed: usize,
        /// The number of elements the buffer holds.
        len: usize,
    },
    /// More initial values than counters were given (Ruby's
    /// `Raindrops::Struct.new` raises for this too).
    TooManyValues {
        /// The number of values given.
        given: usize,
        /// The number of counters.
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::IndexOutOfRange { index, len } => {
                write!(
                    f,
                    "offset overrun: counter index {index} is not below the length {len}"
                )
            }
            Error::BufferTooSmall { needed, len } => {
                write!(
                    f,
                    "buffer too small: {needed} elements needed, {len} available"
                )
            }
            Error::TooManyValues { given, max } => {
                write!(
                    f,
                    "too many initial values: {given} given for {max} counters"
                )
            }
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn messages_name_the_numbers() {
        let e = Error::IndexOutOfRange { index: 7, len: 4 };
        assert_eq!(
            e.to_string(),
            "offset overrun: counter index 7 is not below the length 4"
        );
        let e = Error::TooManyValues { given: 3, max: 2 };
        assert!(e.to_string().contains("3 given for 2"));
        let e = Error::BufferTooSmall { needed: 5, len: 1 };
        assert!(e.to_string().contains("5 elements needed"));
    }
}
