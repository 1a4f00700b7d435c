//! Status, headers and body of an answer, without allocation.

use core::fmt;

use crate::watcher::Tail;

/// Room for a formatted header value: an HTTP-date is 29 bytes, a Ruby
/// float at most 24, a `u64` 20.
pub type HeaderText = heapless::String<48>;

/// A header value: a constant, a string borrowed from the request, or a
/// short formatted one stored inline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    /// A constant such as a content type.
    Static(&'static str),
    /// Borrowed from the request (the `Location` of a reset redirect).
    Borrowed(&'a str),
    /// Formatted: numbers and dates.
    Inline(HeaderText),
}

impl HeaderValue<'_> {
    /// The value.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderValue::Static(s) => s,
            HeaderValue::Borrowed(s) => s,
            HeaderValue::Inline(s) => s.as_str(),
        }
    }

    /// A value formatted from `args`; one that does not fit is left empty
    /// (no value the crate formats is that long).
    pub(crate) fn format(args: fmt::Arguments<'_>) -> Self {
        let mut s = HeaderText::new();
        if fmt::Write::write_fmt(&mut s, args).is_err() {
            s.clear();
        }
        HeaderValue::Inline(s)
    }
}

impl fmt::Display for HeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The field name, as Ruby spells it (`Content-Type`, `X-Std-Dev`).
    pub name: &'static str,
    /// The field value.
    pub value: HeaderValue<'a>,
}

/// The most headers an answer has: the 11 `X-` headers of a Watcher
/// summary plus `Content-Type`, `Expires` and `Content-Length`.
pub const MAX_HEADERS: usize = 16;

/// The headers of an answer, in order, in a fixed-capacity list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    items: heapless::Vec<Header<'a>, MAX_HEADERS>,
}

impl<'a> Headers<'a> {
    pub(crate) const fn new() -> Self {
        Headers {
            items: heapless::Vec::new(),
        }
    }

    /// Appends a header; the callers in this crate never exceed the
    /// capacity, and one beyond it would be dropped rather than panic.
    pub(crate) fn push(&mut self, name: &'static str, value: HeaderValue<'a>) {
        let _ = self.items.push(Header { name, value });
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The headers in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Header<'a>> + '_ {
        self.items.iter()
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl Default for Headers<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// What follows the headers.
#[derive(Clone, Debug, PartialEq, Eq)]
// A `Tail` owns its address (the display form of any Unix name fits in
// MAX_ADDR_LEN bytes) so that a streaming body can keep it without an
// allocator; one `Body` per request is moved, never stored in bulk.
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// No body: a `HEAD` answer (its `Content-Length` is the `GET` body's).
    Empty,
    /// The body was written to the caller's writer; `len` bytes, equal to
    /// `Content-Length`.
    Written {
        /// Bytes written.
        len: usize,
    },
    /// A stream of `tail` lines the caller writes as samples arrive (see
    /// [`Tail`]); there is no `Content-Length`.
    Tail(Tail),
}

/// An answer of the [`Router`](crate::Router).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// The status code.
    pub status: u16,
    /// The header fields.
    pub headers: Headers<'a>,
    /// The body.
    pub body: Body,
}

impl Response<'_> {
    /// The reason phrase of [`status`](Self::status).
    pub fn reason(&self) -> &'static str {
        reason(self.status)
    }
}

/// The reason phrase of the statuses the router gives.
pub(crate) const fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    }
}
