//! Tool-name extraction never panics on any body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mcp_warden::oauth::jsonrpc::called_tools(data);
});
