//! Numbers the command may not know, as tables and JSON show them.

use std::fmt::Display;

/// `v`, or `null` where it is unknown (JSON numbers).
pub(crate) fn or_null<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}
