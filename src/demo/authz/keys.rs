//! The demo authorization server's signing keys: generation, compact JWS
//! signing and the public JWK / SPKI forms.
//!
//! Signing is done here with aws-lc-rs rather than through `jsonwebtoken`'s
//! `encode`, on purpose: tests need headers `jsonwebtoken::Header` cannot
//! express (a missing `typ`, a lying `alg`, arbitrary extra fields), and the
//! key, not the header, must decide how the bytes are signed.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

/// The kinds of signing key the demo server can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA 2048 with PKCS#1 v1.5 and SHA-256 (RFC 7518 §3.3); mandatory for
    /// MCP authorization servers, hence the default.
    Rs256,
    /// ECDSA P-256 with SHA-256, fixed-width `r || s` signatures (RFC 7518 §3.4).
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl KeyKind {
    /// The JWS `alg` value.
    pub fn alg(self) -> &'static str {
        match self {
            KeyKind::Rs256 => "RS256",
            KeyKind::Es256 => "ES256",
            KeyKind::EdDsa => "EdDSA",
        }
    }

    fn kid_prefix(self) -> &'static str {
        match self {
            KeyKind::Rs256 => "rs256",
            KeyKind::Es256 => "es256",
            KeyKind::EdDsa => "eddsa",
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One generated key pair and its `kid`.
pub(super) struct SigningKey {
    pub(super) kid: String,
    pub(super) kind: KeyKind,
    pair: Pair,
}

impl SigningKey {
    /// Generates a fresh key; `serial` makes the kid unique (`rs256-1`, …).
    /// RSA generation takes tens of milliseconds: call it outside any lock.
    pub(super) fn generate(kind: KeyKind, serial: u64) -> SigningKey {
        let pair = match kind {
            KeyKind::Rs256 => Pair::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).expect("aws-lc-rs generates RSA-2048 keys"),
            ),
            KeyKind::Es256 => Pair::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("aws-lc-rs generates P-256 keys"),
            ),
            KeyKind::EdDsa => {
                Pair::Ed(Ed25519KeyPair::generate().expect("aws-lc-rs generates Ed25519 keys"))
            }
        };
        SigningKey {
            kid: format!("{}-{serial}", kind.kid_prefix()),
            kind,
            pair,
        }
    }

    /// A compact JWS (RFC 7515 §7.1). The header starts as
    /// `{alg, typ: "at+jwt", kid}`; each field of `header_extra` (if it is an
    /// object) replaces the default, and a `null` removes it. The signature is
    /// always made with this key's algorithm, whatever the header claims.
    pub(super) fn sign(&self, header_extra: &Value, claims: &Value) -> String {
        let mut header = Map::new();
        header.insert("alg".into(), self.kind.alg().into());
        header.insert("typ".into(), "at+jwt".into());
        header.insert("kid".into(), self.kid.clone().into());
        if let Value::Object(extra) = header_extra {
            for (name, value) in extra {
                if value.is_null() {
                    header.remove(name);
                } else {
                    header.insert(name.clone(), value.clone());
                }
            }
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
        );
        let signature = self.signature(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn signature(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .expect("an RSA signature into a modulus-sized buffer cannot fail");
                signature
            }
            Pair::Ec(pair) => pair
                .sign(&rng, message)
                .expect("ECDSA signing with a valid key cannot fail")
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    /// The public JWK (RFC 7517): key material plus `kid`, `alg`, `use`.
    pub(super) fn public_jwk(&self) -> Value {
        let mut jwk = match &self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Pair::Ec(pair) => {
                // An uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                })
            }
            Pair::Ed(pair) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        };
        let fields = jwk.as_object_mut().expect("built as an object");
        fields.insert("kid".into(), self.kid.clone().into());
        fields.insert("alg".into(), self.kind.alg().into());
        fields.insert("use".into(), "sig".into());
        jwk
    }

    /// The public key as a PEM `SubjectPublicKeyInfo` (`BEGIN PUBLIC KEY`).
    pub(super) fn public_key_pem(&self) -> String {
        let der = match &self.pair {
            Pair::Rsa(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ec(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ed(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .expect("aws-lc-rs encodes a public key it generated");
        let encoded = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }
}

/// Every key the server ever generated, in creation order, and which of them
/// are published. Removed keys stay here so tests can still sign with them
/// (a token from a retired key is a case the daemon must reject).
#[derive(Default)]
pub(super) struct SigningKeys {
    keys: Vec<(Arc<SigningKey>, bool)>,
}

impl SigningKeys {
    pub(super) fn insert(&mut self, key: SigningKey) {
        self.keys.push((Arc::new(key), true));
    }

    /// Unpublishes `kid`; returns whether it was published.
    pub(super) fn unpublish(&mut self, kid: &str) -> bool {
        let mut found = false;
        for (key, published) in &mut self.keys {
            if key.kid == kid && *published {
                *published = false;
                found = true;
            }
        }
        found
    }

    /// Any key ever generated by this server, published or not.
    pub(super) fn get(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|(key, _)| key.kid == kid)
            .map(|(key, _)| key.clone())
    }

    fn published(&self) -> impl DoubleEndedIterator<Item = &Arc<SigningKey>> {
        self.keys
            .iter()
            .filter(|(_, published)| *published)
            .map(|(key, _)| key)
    }

    pub(super) fn published_kids(&self) -> Vec<String> {
        self.published().map(|key| key.kid.clone()).collect()
    }

    /// The most recently generated published key.
    pub(super) fn newest(&self) -> Option<Arc<SigningKey>> {
        self.published().next_back().cloned()
    }

    /// The JWKS document (RFC 7517 §5) of the published keys.
    pub(super) fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.published().map(|key| key.public_jwk()).collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_part(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn header_extra_overrides_and_removes_fields() {
        let key = SigningKey::generate(KeyKind::EdDsa, 7);
        let token = key.sign(
            &json!({ "typ": null, "alg": "HS256", "x-test": 1 }),
            &json!({ "sub": "a" }),
        );
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_part(parts[0]),
            json!({ "alg": "HS256", "kid": "eddsa-7", "x-test": 1 })
        );
        assert_eq!(decode_part(parts[1]), json!({ "sub": "a" }));
    }

    #[test]
    fn pem_is_wrapped_spki() {
        for kind in [KeyKind::Rs256, KeyKind::Es256, KeyKind::EdDsa] {
            let pem = SigningKey::generate(kind, 1).public_key_pem();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
            assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n"), "{pem}");
            assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
        }
    }

    #[test]
    fn unpublished_keys_still_sign_but_leave_the_jwks() {
        let mut set = SigningKeys::default();
        set.insert(SigningKey::generate(KeyKind::Es256, 1));
        set.insert(SigningKey::generate(KeyKind::EdDsa, 2));
        assert_eq!(set.newest().unwrap().kid, "eddsa-2");
        assert!(set.unpublish("eddsa-2"));
        assert!(!set.unpublish("eddsa-2"));
        assert_eq!(set.published_kids(), ["es256-1"]);
        assert_eq!(set.newest().unwrap().kid, "es256-1");
        assert!(set.get("eddsa-2").is_some());
        assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 1);
    }
}
