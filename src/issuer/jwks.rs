//! The authorization server's signing keys (JWKS, RFC 7517), as a
//! [`Fetch`](crate::issuer::cache::Fetch) for the shared cache rules.
//!
//! The JWKS URL is read from the *current* discovery document at every
//! fetch, so a `jwks_uri` that moves is followed (the verifier also refreshes
//! at once when it notices the move). Each key is parsed on its own: keys of
//! unsupported types, symmetric keys and encryption keys are skipped with a
//! warning, never fatal. A set with no usable key is rejected as a whole, so
//! the last good set stays in service (stale-if-error) instead of locking
//! every client out.
//!
//! The algorithms a key may verify come from the key (`kty`, `crv`, `alg`),
//! never from a token (RFC 8725 §3.1, RFC 7518 §6).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use url::Url;

use crate::issuer::cache::{Cache, Fetch};
use crate::issuer::discovery::DiscoveryFetcher;
use crate::issuer::fetch::{self, FetchError};
use crate::oauth::token::VerifyKey;

/// A parsed key set.
#[derive(Debug)]
pub struct KeySet {
    pub keys: Vec<Arc<VerifyKey>>,
    by_kid: HashMap<String, usize>,
    /// The URL it was fetched from.
    pub source: Url,
    /// A fingerprint of the usable keys (SHA-256 of their JWKs): verified
    /// tokens cached under another generation are not trusted, so a removed
    /// or changed key stops validating at once, while a refresh that returns
    /// the same keys keeps every cached verdict.
    pub generation: u64,
    /// Keys skipped as unusable.
    pub skipped: usize,
}

impl KeySet {
    pub fn by_kid(&self, kid: &str) -> Option<&Arc<VerifyKey>> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().filter_map(|k| k.kid.clone()).collect()
    }
}

/// Parses a JWKS document, skipping (and logging) unusable keys.
pub fn parse(document: Value, source: &Url, resource: &str) -> Result<KeySet, FetchError> {
    let invalid = |d: &str| FetchError::validation(source, d);
    let Value::Object(mut document) = document else {
        return Err(invalid("JWKS is not a JSON object"));
    };
    let Some(Value::Array(entries)) = document.remove("keys") else {
        return Err(invalid("JWKS has no `keys` array"));
    };
    let mut keys = Vec::new();
    let mut by_kid = HashMap::new();
    let mut skipped = 0;
    let mut fingerprint = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for (i, entry) in entries.into_iter().enumerate() {
        let canonical = entry.to_string();
        match parse_key(entry) {
            Ok(key) => {
                if let Some(kid) = &key.kid {
                    if by_kid.contains_key(kid) {
                        tracing::warn!(%resource, %kid, "JWKS has a duplicate key id; using the first");
                        skipped += 1;
                        continue;
                    }
                    by_kid.insert(kid.clone(), keys.len());
                }
                fingerprint.update(canonical.as_bytes());
                fingerprint.update(b"\n");
                keys.push(Arc::new(key));
            }
            Err(why) => {
                tracing::warn!(%resource, key = i, "skipping JWKS key: {why}");
                skipped += 1;
            }
        }
    }
    if keys.is_empty() {
        return Err(invalid(&format!(
            "JWKS has no usable signing key ({skipped} skipped)"
        )));
    }
    Ok(KeySet {
        keys,
        by_kid,
        source: source.clone(),
        generation: u64::from_be_bytes(
            fingerprint.finish().as_ref()[..8]
                .try_into()
                .expect("SHA-256 has 32 bytes"),
        ),
        skipped,
    })
}

/// One JWK to a [`VerifyKey`], or why it cannot be used.
fn parse_key(entry: Value) -> Result<VerifyKey, String> {
    let kty = entry
        .get("kty")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let jwk: Jwk = serde_json::from_value(entry).map_err(|e| format!("kty {kty}: {e}"))?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return Err("not a signing key (`use` is not \"sig\")".into());
    }
    let from_key: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            ref other => return Err(format!("unsupported EC curve {other:?}")),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            return Err(format!("unsupported OKP curve {:?}", p.curve));
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (oct) keys are never used to verify tokens".into());
        }
        _ => return Err(format!("unsupported key type {kty}")),
    };
    let algorithms = match jwk.common.key_algorithm {
        None => from_key.to_vec(),
        Some(alg) => match key_algorithm(alg) {
            Some(a) if from_key.contains(&a) => vec![a],
            _ => return Err(format!("`alg` {alg:?} does not fit a {kty} key")),
        },
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("kty {kty}: {e}"))?;
    Ok(VerifyKey {
        kid: jwk.common.key_id.clone(),
        algorithms,
        key,
    })
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Fetches the key set named by the resource's current discovery document.
pub struct JwksFetcher {
    pub name: String,
    pub discovery: Arc<Cache<DiscoveryFetcher>>,
    pub client: reqwest::Client,
    pub timeout: Duration,
}

impl Fetch for JwksFetcher {
    type Value = KeySet;

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let metadata = self
            .discovery
            .get()
            .await
            .map_err(|u| FetchError::Validation {
                url: "(discovery)".into(),
                detail: format!(
                    "no authorization server metadata to find the JWKS: {}",
                    u.error
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "not loaded".into())
                ),
            })?;
        let document = fetch::get_json(&self.client, &metadata.jwks_uri, self.timeout).await?;
        let set = parse(document, &metadata.jwks_uri, &self.name)?;
        tracing::debug!(resource = %self.name, keys = set.keys.len(), kids = ?set.kids(), "loaded JWKS");
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source() -> Url {
        Url::parse("https://as.example/jwks").unwrap()
    }

    // A real 2048-bit RSA modulus is not needed to parse; from_rsa_components
    // only base64-decodes. EC and OKP points likewise.
    fn rsa(kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"})
    }

    #[test]
    fn key_types_and_algorithms_come_from_the_key() {
        let doc = json!({"keys": [
            rsa("r1"),
            {"kty": "RSA", "kid": "r2", "alg": "PS256", "n": rsa("x")["n"], "e": "AQAB"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "OKP", "kid": "d1", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        ]});
        let set = parse(doc, &source(), "r").unwrap();
        assert_eq!(set.kids(), ["r1", "r2", "e1", "d1"]);
        assert_eq!(set.by_kid("r1").unwrap().algorithms.len(), 6);
        assert_eq!(set.by_kid("r2").unwrap().algorithms, [Algorithm::PS256]);
        assert_eq!(set.by_kid("e1").unwrap().algorithms, [Algorithm::ES256]);
        assert_eq!(set.by_kid("d1").unwrap().algorithms, [Algorithm::EdDSA]);
        assert_eq!(set.skipped, 0);
    }

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let doc = json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": rsa("x")["n"], "e": "AQAB"},
            {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "wrongalg", "alg": "ES256", "n": rsa("x")["n"], "e": "AQAB"},
            {"kty": "XYZ", "kid": "alien"},
            "not an object",
            rsa("good"),
            rsa("good"),
        ]});
        let set = parse(doc, &source(), "r").unwrap();
        assert_eq!(set.kids(), ["good"]);
        assert_eq!(set.skipped, 7);
    }

    #[test]
    fn a_set_without_usable_keys_is_rejected() {
        for doc in [
            json!({"keys": []}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"nokeys": true}),
            json!([rsa("a")]),
        ] {
            let e = parse(doc, &source(), "r").unwrap_err();
            assert_eq!(e.reason(), "validation", "{e}");
        }
    }

    #[test]
    fn generation_fingerprints_the_usable_keys() {
        let gen_of = |doc| parse(doc, &source(), "r").unwrap().generation;
        let a = gen_of(json!({"keys": [rsa("a")]}));
        assert_eq!(
            a,
            gen_of(json!({"keys": [rsa("a")]})),
            "same keys, same generation"
        );
        assert_eq!(
            a,
            gen_of(json!({"keys": [rsa("a"), {"kty": "oct", "k": "c2VjcmV0"}]})),
            "skipped keys do not count"
        );
        assert_ne!(a, gen_of(json!({"keys": [rsa("b")]})));
        assert_ne!(a, gen_of(json!({"keys": [rsa("a"), rsa("b")]})));
    }
}
