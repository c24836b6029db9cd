//! The OAuth and MCP rules mcp-warden enforces, as pure functions over
//! values: no I/O, no async runtime, no HTTP server. Everything above this
//! layer calls into it; it calls nothing above it.
//!
//! - [`grammar`]: the token grammars of RFC 6749 and RFC 6750.
//! - [`scopes`]: which scopes the metadata advertises, and which a request lacks.
//! - [`prm`]: resource identifiers and the RFC 9728 document.
//! - [`challenge`]: RFC 6750 `WWW-Authenticate` challenges.
//! - [`bearer`]: the bearer token of a request (RFC 6750 §2.1).
//! - [`token`]: JWT access-token rules (RFC 9068, RFC 8725).
//! - [`jsonrpc`]: the tools a JSON-RPC body calls.

pub mod bearer;
pub mod challenge;
pub mod grammar;
pub mod jsonrpc;
pub mod prm;
pub mod scopes;
pub mod token;
