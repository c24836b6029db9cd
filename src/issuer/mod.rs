//! Everything that talks to an authorization server: bounded fetches, the
//! refresh-ahead cache both of its documents live in, discovery, signing
//! keys, and token verification on top of them.
//!
//! - [`fetch`]: bounded HTTP GETs of JSON documents, failures classified.
//! - [`cache`]: the refresh-ahead, single-flight, stale-if-error cache.
//! - [`discovery`]: RFC 8414 / OIDC discovery URLs and document validation.
//! - [`jwks`]: the key set (RFC 7517), parsed key by key.
//! - [`verifier`]: the unknown-`kid` refetch and the verified-token cache
//!   around the pure rules of [`crate::oauth::token`].

pub mod cache;
pub mod discovery;
pub mod fetch;
pub mod jwks;
pub mod verifier;
