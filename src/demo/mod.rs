//! Demo-only peers, also used by the test suite: a loopback authorization
//! server ([`authz`]) and a loopback MCP server that records what it receives
//! ([`upstream`]). Never part of a production request path.

pub mod authz;
pub mod run;
mod support;
pub mod upstream;
