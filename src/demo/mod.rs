//! Demo-only peers, also used by the test suite: a loopback authorization
//! server ([`authz`]). Never part of a production request path.

pub mod authz;
