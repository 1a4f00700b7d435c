//! The `Authorization: Basic` header (RFC 7617): user and password.
//!
//! Uses only std and base64, so that the fuzz target `cli_web_config`
//! can compile it on its own.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The longest header value looked at: longer ones are refused unread.
pub(crate) const MAX_HEADER: usize = 1024;

/// Credentials from a `Basic` header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) user: Vec<u8>,
    pub(crate) password: Vec<u8>,
}

/// The user and password of an `Authorization` header value, or `None`
/// when it is not well-formed `Basic` credentials (any other scheme, bad
/// base64, no colon, longer than [`MAX_HEADER`]). The scheme name is
/// case-insensitive; the user is everything before the first colon.
pub(crate) fn parse(value: &[u8]) -> Option<Credentials> {
    if value.len() > MAX_HEADER {
        return None;
    }
    let value = trim(value);
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = STANDARD.decode(trim(rest)).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(Credentials {
        user: decoded[..colon].to_vec(),
        password: decoded[colon + 1..].to_vec(),
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials {
            user: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn rfc_7617_examples_and_refusals() {
        // RFC 7617 section 2: Aladdin / open sesame.
        assert_eq!(
            parse(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            creds("Aladdin", "open sesame")
        );
        assert_eq!(
            parse(b"basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ== "),
            creds("Aladdin", "open sesame")
        );
        // "a:b:c": the password keeps its colons; "" and ":" are empty.
        assert_eq!(parse(b"Basic YTpiOmM="), creds("a", "b:c"));
        assert_eq!(parse(b"Basic Og=="), creds("", ""));
        for bad in [
            &b""[..],
            b"Basic",
            b"Basic ",
            b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            b"Basic QWxhZGRpbg==",
            b"Basic !!!!",
            b"BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let long = format!("Basic {}", "QUFB".repeat(300));
        assert_eq!(parse(long.as_bytes()), None);
    }

    proptest::proptest! {
        #[test]
        fn round_trip(user in "[^:]{0,40}", password in "\\PC{0,40}") {
            let header = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
            proptest::prop_assert_eq!(parse(header.as_bytes()), creds(&user, &password));
        }

        #[test]
        fn any_bytes_are_parsed_or_refused(b in proptest::collection::vec(proptest::num::u8::ANY, 0..1200)) {
            let _ = parse(&b);
        }
    }
}
