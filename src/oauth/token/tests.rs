//! The validation rules with real signatures (ES256 and EdDSA keys made here).

use std::time::Duration;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use jsonwebtoken::{DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;

struct Signer {
    encoding: EncodingKey,
    verify: VerifyKey,
    alg: Algorithm,
}

fn es256(kid: &str) -> Signer {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap();
    Signer {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        verify: VerifyKey {
            kid: Some(kid.into()),
            algorithms: vec![Algorithm::ES256],
            key: DecodingKey::from_ec_der(pair.public_key().as_ref()),
        },
        alg: Algorithm::ES256,
    }
}

fn eddsa(kid: &str) -> Signer {
    let pair = Ed25519KeyPair::generate().unwrap();
    let pkcs8 = pair.to_pkcs8().unwrap();
    Signer {
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        verify: VerifyKey {
            kid: Some(kid.into()),
            algorithms: vec![Algorithm::EdDSA],
            key: DecodingKey::from_ed_der(pair.public_key().as_ref()),
        },
        alg: Algorithm::EdDSA,
    }
}

const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "https://as.example";

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": "https://mcp.example.com/mcp",
        "sub": "user-1",
        "client_id": "client-1",
        "scope": "openid all",
        "iat": NOW - 10,
        "exp": NOW + 300,
        "jti": "j1",
    })
}

fn sign(s: &Signer, claims: &Value) -> String {
    let mut h = Header::new(s.alg);
    h.kid = s.verify.kid.clone();
    h.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&h, claims, &s.encoding).unwrap()
}

fn audiences() -> Vec<String> {
    vec![
        "https://mcp.example.com/mcp".into(),
        "https://mcp.example.com/mcp/".into(),
    ]
}

fn check(token: &str, key: &VerifyKey, require_typ: bool) -> Result<Principal, Invalid> {
    let aud = audiences();
    let want = Expectations {
        issuer: ISSUER,
        audiences: &aud,
        algorithms: &JwsAlgorithm::ALL,
        leeway: Duration::from_secs(30),
        require_typ,
    };
    let parsed = parse(token, want.algorithms)?;
    verify_signature(&parsed, key)?;
    check_claims(&parsed, &want, NOW)
}

fn rejection(token: &str, key: &VerifyKey) -> Rejection {
    check(token, key, false).unwrap_err().kind
}

#[test]
fn valid_tokens_yield_the_principal() {
    for s in [es256("e"), eddsa("d")] {
        let p = check(&sign(&s, &claims()), &s.verify, true).unwrap();
        assert_eq!(p.sub.as_deref(), Some("user-1"));
        assert_eq!(p.client_id.as_deref(), Some("client-1"));
        assert_eq!(p.scopes, ["openid", "all"]);
        assert_eq!(p.exp, NOW + 300);
        assert_eq!(p.authorization_details, None);
    }
}

#[test]
fn claim_rules() {
    let s = es256("e");
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        sign(&s, &c)
    };
    let without = |k: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(k);
        sign(&s, &c)
    };
    let cases = [
        (
            with("iss", json!("https://as.example/")),
            Rejection::WrongIssuer,
        ),
        (without("iss"), Rejection::WrongIssuer),
        (
            with("aud", json!("https://other.example/mcp")),
            Rejection::WrongAudience,
        ),
        (with("aud", json!(["a", "b"])), Rejection::WrongAudience),
        (without("aud"), Rejection::WrongAudience),
        (with("exp", json!(NOW - 31)), Rejection::Expired),
        (without("exp"), Rejection::Malformed),
        (with("exp", json!("tomorrow")), Rejection::Malformed),
        (with("nbf", json!(NOW + 31)), Rejection::NotYetValid),
        (with("iat", json!(NOW + 3600)), Rejection::NotYetValid),
    ];
    for (token, want) in cases {
        assert_eq!(rejection(&token, &s.verify), want);
    }
    // Within the leeway, and audience in an array or with a trailing slash.
    for token in [
        with("exp", json!(NOW - 29)),
        with("nbf", json!(NOW + 29)),
        with("aud", json!(["x", "https://mcp.example.com/mcp/"])),
        with("exp", json!((NOW + 100) as f64 + 0.5)),
    ] {
        check(&token, &s.verify, false).unwrap();
    }
}

#[test]
fn scopes_from_scope_or_scp() {
    let s = eddsa("d");
    let mut c = claims();
    c.as_object_mut().unwrap().remove("scope");
    c["scp"] = json!(["a", "b"]);
    assert_eq!(
        check(&sign(&s, &c), &s.verify, false).unwrap().scopes,
        ["a", "b"]
    );
    c["scp"] = json!("a b");
    assert_eq!(
        check(&sign(&s, &c), &s.verify, false).unwrap().scopes,
        ["a", "b"]
    );
    c["azp"] = json!("azp-client");
    c.as_object_mut().unwrap().remove("client_id");
    c["authorization_details"] = json!([{"type": "project", "id": "p1"}]);
    let p = check(&sign(&s, &c), &s.verify, false).unwrap();
    assert_eq!(p.client_id.as_deref(), Some("azp-client"));
    assert_eq!(
        p.authorization_details,
        Some(json!([{"type": "project", "id": "p1"}]))
    );
}

#[test]
fn signature_and_algorithm_rules() {
    let a = es256("a");
    let b = es256("b");
    let d = eddsa("d");
    let token = sign(&a, &claims());
    // Another key of the same type: bad signature.
    assert_eq!(rejection(&token, &b.verify), Rejection::InvalidSignature);
    // A key of another type cannot verify this algorithm at all.
    assert_eq!(rejection(&token, &d.verify), Rejection::DisallowedAlg);
    // Tampered claims.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(
        json!({"iss": ISSUER, "aud": audiences()[0], "exp": NOW + 300, "scope": "admin"})
            .to_string(),
    );
    parts[1] = &forged;
    assert_eq!(
        rejection(&parts.join("."), &a.verify),
        Rejection::InvalidSignature
    );
}

#[test]
fn none_and_hmac_are_always_refused() {
    let a = es256("a");
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    for alg in ["none", "HS256", "HS384", "HS512", "RS1", ""] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "a"}).to_string());
        let token = format!("{header}.{body}.");
        assert_eq!(
            rejection(&token, &a.verify),
            Rejection::DisallowedAlg,
            "{alg}"
        );
    }
    // An algorithm the operator did not allow.
    let token = sign(&a, &claims());
    let only_rs = [JwsAlgorithm::RS256];
    assert_eq!(
        parse(&token, &only_rs).unwrap_err().kind,
        Rejection::DisallowedAlg
    );
}

#[test]
fn malformed_tokens() {
    let a = es256("a");
    for token in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!.!!.!!",
        &"x".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        assert_eq!(
            rejection(token, &a.verify),
            Rejection::Malformed,
            "{token:.20}"
        );
    }
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256"}).to_string());
    let token = format!("{header}.{}.sig", URL_SAFE_NO_PAD.encode("[1,2]"));
    assert_eq!(rejection(&token, &a.verify), Rejection::Malformed);
}

#[test]
fn typ_is_checked_only_when_required() {
    let s = es256("a");
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("JWT".into());
    let token = jsonwebtoken::encode(&h, &claims(), &s.encoding).unwrap();
    check(&token, &s.verify, false).unwrap();
    assert_eq!(
        check(&token, &s.verify, true).unwrap_err().kind,
        Rejection::Malformed
    );
    h.typ = Some("application/AT+JWT".into());
    let token = jsonwebtoken::encode(&h, &claims(), &s.encoding).unwrap();
    check(&token, &s.verify, true).unwrap();
}

#[test]
fn reasons_never_contain_token_material() {
    let s = es256("a");
    let mut c = claims();
    c["iss"] = json!("https://evil.example/\"inject");
    let err = check(&sign(&s, &c), &s.verify, false).unwrap_err();
    assert!(!err.reason.contains("evil"));
}
