//! The small grammars of RFC 6749 and RFC 6750 that mcp-warden checks or
//! builds values from. Each is a byte-level check, so a hostile catalog,
//! token or claim can never slip a quote, backslash or line break into a
//! header.

/// RFC 6749 §3.3 / RFC 6750 §3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_b64token(token: &[u8]) -> bool {
    let body = &token[..token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1)];
    !body.is_empty() && body.iter().all(|&b| B64TOKEN[usize::from(b)])
}

/// The bytes of `b64token` before its `=` padding, as a lookup table: this
/// check runs over every byte of every token.
const B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    t
};

/// Keeps only the characters RFC 6750 §3 allows in `error_description`
/// (`%x20-21 / %x23-5B / %x5D-7E`): no quote, backslash or control character.
pub fn quoted_safe(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens() {
        for ok in ["openid", "project:all", "a!b", "~"] {
            assert!(is_scope_token(ok), "{ok}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\n"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn b64tokens() {
        for ok in ["abc", "a-._~+/", "abc==", "A1"] {
            assert!(is_b64token(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "==", "=abc", "ab=c", "a b", "a\tb", "a\"b"] {
            assert!(!is_b64token(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn quoted_safe_keeps_only_qdtext() {
        assert_eq!(quoted_safe("a \"b\" \\ c\r\nd"), "a b  cd");
        assert_eq!(quoted_safe(&"x".repeat(500)).len(), 200);
    }
}
