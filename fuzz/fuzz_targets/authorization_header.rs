//! The Authorization header and query parser never panics, and a token it
//! accepts is a valid RFC 6750 b64token.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mcp_warden::oauth::bearer::bearer;
use warp::http::{HeaderMap, HeaderValue, header};

fuzz_target!(|data: (Vec<Vec<u8>>, Option<String>)| {
    let (values, query) = data;
    let mut headers = HeaderMap::new();
    for v in values.iter().take(4) {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.append(header::AUTHORIZATION, v);
        }
    }
    if let Ok(Some(token)) = bearer(query.as_deref(), &headers) {
        let body = token.trim_end_matches('=');
        assert!(!body.is_empty());
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)));
    }
});
