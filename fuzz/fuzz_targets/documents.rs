//! Discovery and JWKS document validation, and token parsing, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = url::Url::parse("https://as.example/.well-known/openid-configuration").unwrap();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = mcp_warden::issuer::discovery::validate(value.clone(), &source, Some("https://as.example"));
        let _ = mcp_warden::issuer::jwks::parse(value, &source, "fuzz");
    }
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = mcp_warden::oauth::token::parse(token, &mcp_warden::oauth::token::JwsAlgorithm::ALL);
    }
});
