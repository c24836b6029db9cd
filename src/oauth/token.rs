//! Access-token validation rules (RFC 9068 §4, RFC 8725, RFC 8707), as pure
//! functions over a parsed token. [`crate::issuer::verifier`] adds keys and caching.
//!
//! Order of checks, each with its own [`Rejection`] (the metric label):
//! 1. shape: three base64url parts, JSON header and claims, at most
//!    [`MAX_TOKEN_BYTES`] (`malformed`);
//! 2. header `alg`: never `none`, never HMAC (no HMAC-with-public-key
//!    confusion), and one of the configured algorithms (`disallowed_alg`);
//! 3. the key (chosen by the caller from `kid`) must itself allow that
//!    algorithm (`disallowed_alg`), and the signature must verify
//!    (`invalid_signature`);
//! 4. claims: `iss` equals the discovered issuer exactly (`wrong_issuer`);
//!    `aud` (string or array) contains an accepted audience (`wrong_audience`);
//!    `exp` present and in the future (`expired`); `nbf` and `iat` not in the
//!    future (`not_yet_valid`); all with the configured leeway; `typ` is
//!    `at+jwt` when required (`malformed`).
//!
//! Header fields that point elsewhere (`jku`, `x5u`, `jwk`, `x5c`) are
//! ignored: keys only ever come from the configured authorization server.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

/// Longest token accepted (real access tokens are 1-2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a token was refused (also the `result` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    Malformed,
    InvalidSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    UnknownKid,
    DisallowedAlg,
}

impl Rejection {
    /// Every rejection, in declaration order.
    pub const ALL: [Rejection; 8] = [
        Rejection::Malformed,
        Rejection::InvalidSignature,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::WrongIssuer,
        Rejection::WrongAudience,
        Rejection::UnknownKid,
        Rejection::DisallowedAlg,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::InvalidSignature => "invalid_signature",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::UnknownKid => "unknown_kid",
            Rejection::DisallowedAlg => "disallowed_alg",
        }
    }
}

/// A refusal with a short, safe reason for `error_description`. The reason
/// never contains the token or claim values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub kind: Rejection,
    pub reason: &'static str,
}

fn invalid(kind: Rejection, reason: &'static str) -> Invalid {
    Invalid { kind, reason }
}

/// The verified identity passed upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub sub: Option<String>,
    /// `client_id` (RFC 9068), else `azp`.
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// RFC 9396 `authorization_details`, when present.
    pub authorization_details: Option<Value>,
    /// The identity headers built from these claims, memoized by
    /// [`crate::proxy`] on first use: a cached verdict carries them, so a
    /// repeat request sends them without formatting or validating again.
    pub identity_headers:
        std::sync::OnceLock<Vec<(warp::http::HeaderName, warp::http::HeaderValue)>>,
}

#[derive(Debug, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
}

/// A token split and decoded, not yet trusted.
#[derive(Debug)]
pub struct Parsed<'t> {
    pub header: Header,
    pub algorithm: Algorithm,
    claims: Value,
    /// `base64(header) "." base64(claims)`: what the signature covers.
    message: &'t str,
    signature: &'t str,
}

/// What a token must satisfy for one resource.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    /// Accepted `aud` values (the canonical resource in both slash forms,
    /// plus configured extras).
    pub audiences: &'a [String],
    pub algorithms: &'a [JwsAlgorithm],
    pub leeway: Duration,
    pub require_typ: bool,
}

/// Step 1 and 2: split, decode, and check the header's algorithm.
pub fn parse<'t>(token: &'t str, allowed: &[JwsAlgorithm]) -> Result<Parsed<'t>, Invalid> {
    let malformed = |r| invalid(Rejection::Malformed, r);
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("token too large"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not a JWS compact serialization"));
    };
    let header: Header = decode_json(h).ok_or(malformed("unreadable token header"))?;
    let algorithm = match header.alg.as_str() {
        "none" => {
            return Err(invalid(
                Rejection::DisallowedAlg,
                "unsigned tokens are not accepted",
            ));
        }
        "HS256" | "HS384" | "HS512" => {
            return Err(invalid(
                Rejection::DisallowedAlg,
                "HMAC-signed tokens are not accepted",
            ));
        }
        other => match other.parse::<JwsAlgorithm>() {
            Ok(a) if allowed.contains(&a) => to_jwt_algorithm(a),
            _ => {
                return Err(invalid(
                    Rejection::DisallowedAlg,
                    "token algorithm not accepted",
                ));
            }
        },
    };
    let claims: Value = decode_json(c).ok_or(malformed("unreadable token claims"))?;
    if !claims.is_object() {
        return Err(malformed("token claims are not a JSON object"));
    }
    Ok(Parsed {
        header,
        algorithm,
        claims,
        message: &token[..h.len() + 1 + c.len()],
        signature,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn to_jwt_algorithm(a: JwsAlgorithm) -> Algorithm {
    match a {
        JwsAlgorithm::RS256 => Algorithm::RS256,
        JwsAlgorithm::RS384 => Algorithm::RS384,
        JwsAlgorithm::RS512 => Algorithm::RS512,
        JwsAlgorithm::PS256 => Algorithm::PS256,
        JwsAlgorithm::PS384 => Algorithm::PS384,
        JwsAlgorithm::PS512 => Algorithm::PS512,
        JwsAlgorithm::ES256 => Algorithm::ES256,
        JwsAlgorithm::ES384 => Algorithm::ES384,
        JwsAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// Step 3: the key must allow the token's algorithm, and the signature verify.
pub fn verify_signature(parsed: &Parsed<'_>, key: &VerifyKey) -> Result<(), Invalid> {
    if !key.algorithms.contains(&parsed.algorithm) {
        return Err(invalid(
            Rejection::DisallowedAlg,
            "token algorithm does not match its key",
        ));
    }
    match jsonwebtoken::crypto::verify(
        parsed.signature,
        parsed.message.as_bytes(),
        &key.key,
        parsed.algorithm,
    ) {
        Ok(true) => Ok(()),
        _ => Err(invalid(
            Rejection::InvalidSignature,
            "signature does not verify",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<Value>),
}

impl OneOrMany {
    fn strings(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().filter_map(Value::as_str).collect(),
        }
    }
}

/// Step 4: the claims, at time `now` (seconds since the epoch).
pub fn check_claims(
    parsed: &Parsed<'_>,
    want: &Expectations<'_>,
    now: u64,
) -> Result<Principal, Invalid> {
    let malformed = |r| invalid(Rejection::Malformed, r);
    if want.require_typ {
        let typ = parsed.header.typ.as_deref().unwrap_or("");
        // RFC 9068 §2.1; media types compare case-insensitively.
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(malformed("token type is not at+jwt"));
        }
    }
    let c = &parsed.claims;
    let string = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_owned);
    let time = |name: &str| -> Result<Option<u64>, Invalid> {
        match c.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| Some(t as u64))
                .ok_or(malformed("a time claim is not a number")),
        }
    };

    // RFC 9068 §4 / RFC 8414 §3.3: exact string comparison.
    if string("iss").as_deref() != Some(want.issuer) {
        return Err(invalid(
            Rejection::WrongIssuer,
            "token issuer is not this resource's authorization server",
        ));
    }
    let aud: Option<OneOrMany> = c
        .get("aud")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let aud_ok = aud.as_ref().is_some_and(|a| {
        a.strings()
            .iter()
            .any(|a| want.audiences.iter().any(|w| w == a))
    });
    if !aud_ok {
        return Err(invalid(
            Rejection::WrongAudience,
            "token audience is not this resource",
        ));
    }
    let leeway = want.leeway.as_secs();
    let exp = time("exp")?.ok_or(malformed("token has no exp"))?;
    if exp.saturating_add(leeway) <= now {
        return Err(invalid(Rejection::Expired, "token expired"));
    }
    for name in ["nbf", "iat"] {
        if time(name)?.is_some_and(|t| t > now.saturating_add(leeway)) {
            return Err(invalid(Rejection::NotYetValid, "token not yet valid"));
        }
    }

    let mut scopes: Vec<String> = string("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    if scopes.is_empty()
        && let Some(scp) = c
            .get("scp")
            .and_then(|v| serde_json::from_value::<OneOrMany>(v.clone()).ok())
    {
        scopes = scp
            .strings()
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect();
    }
    Ok(Principal {
        sub: string("sub"),
        client_id: string("client_id").or_else(|| string("azp")),
        scopes,
        exp,
        authorization_details: c.get("authorization_details").cloned(),
        identity_headers: std::sync::OnceLock::new(),
    })
}

/// Asymmetric JWS algorithms mcp-warden accepts. HMAC and `none` are not
/// representable, so they cannot be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum JwsAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl JwsAlgorithm {
    pub const ALL: [JwsAlgorithm; 9] = [
        JwsAlgorithm::RS256,
        JwsAlgorithm::RS384,
        JwsAlgorithm::RS512,
        JwsAlgorithm::PS256,
        JwsAlgorithm::PS384,
        JwsAlgorithm::PS512,
        JwsAlgorithm::ES256,
        JwsAlgorithm::ES384,
        JwsAlgorithm::EdDSA,
    ];
}

impl std::fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One usable verification key.
pub struct VerifyKey {
    pub kid: Option<String>,
    /// What this key may verify, derived from the key itself.
    pub algorithms: Vec<Algorithm>,
    pub key: jsonwebtoken::DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for JwsAlgorithm {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        JwsAlgorithm::ALL
            .into_iter()
            .find(|a| a.to_string() == s)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests;
