//! JSON of the command's own outputs, in the one style of the workspace:
//! compact objects (`{"key":value,...}`) with strings escaped as
//! raindrops-http escapes them, a newline after the document.

use std::fmt::{Display, Write as _};

use raindrops_http::JsonString;

/// Writes one JSON object member by member.
pub(crate) struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    /// Opens an object at the end of `out`.
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('{');
        Object { out, first: true }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        let _ = write!(self.out, "{}:", JsonString(k));
        self.out
    }

    /// A string member.
    pub(crate) fn str(&mut self, k: &str, v: &str) -> &mut Self {
        let _ = write!(self.key(k), "{}", JsonString(v));
        self
    }

    /// A number (or `true`/`false`) member.
    pub(crate) fn num(&mut self, k: &str, v: impl Display) -> &mut Self {
        let _ = write!(self.key(k), "{v}");
        self
    }

    /// A number member, `null` when unknown.
    pub(crate) fn opt(&mut self, k: &str, v: Option<impl Display>) -> &mut Self {
        match v {
            Some(v) => self.num(k, v),
            None => self.raw(k, "null"),
        }
    }

    /// A member whose value is already JSON.
    pub(crate) fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k).push_str(json);
        self
    }

    /// Closes the object.
    pub(crate) fn end(&mut self) {
        self.out.push('}');
    }
}

/// A JSON array of the objects `each` writes, one per item.
pub(crate) fn array<T>(items: &[T], mut each: impl FnMut(&mut Object<'_>, &T)) -> String {
    let mut s = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let mut o = Object::new(&mut s);
        each(&mut o, item);
        o.end();
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_escaped() {
        let mut s = String::new();
        let mut o = Object::new(&mut s);
        o.str("a\"", "x\ny")
            .num("n", 1)
            .opt("m", None::<u32>)
            .str("o", "z")
            .raw(
                "l",
                &array(&[1, 2], |o, v| {
                    o.num("v", v);
                }),
            );
        o.end();
        assert_eq!(
            s,
            r#"{"a\"":"x\ny","n":1,"m":null,"o":"z","l":[{"v":1},{"v":2}]}"#
        );
    }
}
