//! The bearer token of a request (RFC 6750 §2.1), or why the request is
//! malformed (RFC 6750 §3.1 `invalid_request`).
//!
//! Only the `Authorization` header carries tokens: a token in the query
//! string is refused (MCP 2025-11-25: tokens MUST NOT be accepted there), as
//! are two `Authorization` headers and a `Bearer` value outside the
//! `b64token` grammar. Another scheme (`Basic`, …) is no bearer token at all.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::oauth::grammar::is_b64token;

pub const NOT_ASCII: &str = "Authorization header is not ASCII";
pub const MALFORMED: &str = "malformed Bearer credentials";

/// The bearer token, `Ok(None)` when the request carries none, or why the
/// request is malformed.
pub fn bearer(query: Option<&str>, headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    if let Some(q) = query
        && url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
    {
        return Err("tokens are not accepted in the query string");
    }
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    // One pass over the bytes: this runs on every request, over tokens of
    // a kilobyte or more.
    let raw = value.as_bytes();
    let not_ascii = || !raw.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
    let (scheme, rest) = match raw.iter().position(|&b| b == b' ') {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, &raw[raw.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        if not_ascii() {
            return Err(NOT_ASCII);
        }
        return Ok(None);
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    let token = &rest[start..end];
    if !is_b64token(token) {
        return Err(if not_ascii() { NOT_ASCII } else { MALFORMED });
    }
    // Only b64token bytes and `=` are left: ASCII.
    String::from_utf8(token.to_vec())
        .map(Some)
        .map_err(|_| MALFORMED)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(auth: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for a in auth {
            headers.append(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        headers
    }

    #[test]
    fn bearer_extraction() {
        let ok = |auth: &str| bearer(None, &headers(&[auth]));
        assert_eq!(
            ok("Bearer abc.def-ghi_~+/=="),
            Ok(Some("abc.def-ghi_~+/==".into()))
        );
        assert_eq!(ok("bearer abc"), Ok(Some("abc".into())));
        assert_eq!(ok("BEARER abc"), Ok(Some("abc".into())));
        assert_eq!(ok("Basic dXNlcjpwYXNz"), Ok(None));
        assert!(ok("Bearer").is_err());
        assert!(ok("Bearer ").is_err());
        assert!(ok("Bearer a b").is_err());
        assert!(ok("Bearer a\"b").is_err());
        assert!(ok("Bearer =abc").is_err());
        assert_eq!(ok("Bearer  abc== "), Ok(Some("abc==".into())));
        assert_eq!(ok("Bearer ab=c"), Err(MALFORMED));
        assert_eq!(ok("Bearer =="), Err(MALFORMED));
        assert_eq!(ok("Bearer a\tb"), Err(MALFORMED));
        let raw = |bytes: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_bytes(bytes).unwrap());
            bearer(None, &h)
        };
        assert_eq!(raw(b"Bearer abc\xe9"), Err(NOT_ASCII));
        assert_eq!(raw(b"Basic abc\xe9"), Err(NOT_ASCII));
        assert_eq!(raw(b"Bearer abc"), Ok(Some("abc".into())));
        assert_eq!(bearer(None, &headers(&[])), Ok(None));
        assert!(bearer(None, &headers(&["Bearer a", "Bearer b"])).is_err());
        assert!(bearer(Some("x=1&access_token=abc"), &headers(&[])).is_err());
        assert_eq!(
            bearer(Some("x=1"), &headers(&["Bearer a"])),
            Ok(Some("a".into()))
        );
    }
}
