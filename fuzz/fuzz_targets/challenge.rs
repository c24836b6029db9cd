//! Arbitrary catalogs, overrides and descriptions never produce an invalid
//! header value or a scope outside the grammar.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mcp_warden::oauth::challenge::{Challenge, ErrorCode};
use mcp_warden::oauth::grammar::is_scope_token;
use mcp_warden::oauth::scopes::{Policy, advertise};

fuzz_target!(|data: (Vec<String>, Vec<String>, Vec<String>, String, u8)| {
    let (catalog, preferred, override_, description, code) = data;
    let policy = Policy { preferred: &preferred, override_: &override_, max_chars: 1024 };
    let Ok(advertised) = advertise(&policy, Some(&catalog)) else { return };
    for s in &advertised.scopes {
        assert!(is_scope_token(s) && s != "offline_access");
    }
    let error = match code % 4 {
        0 => None,
        1 => Some(ErrorCode::InvalidRequest),
        2 => Some(ErrorCode::InvalidToken),
        _ => Some(ErrorCode::InsufficientScope),
    };
    let c = Challenge {
        error,
        description: Some(description),
        scopes: advertised.scopes,
        resource_metadata: "https://h/.well-known/oauth-protected-resource/mcp".into(),
    };
    let h = c.www_authenticate();
    assert!(warp::http::HeaderValue::from_str(&h).is_ok(), "{h:?}");
    let _: serde_json::Value = serde_json::from_str(&c.body()).unwrap();
});
