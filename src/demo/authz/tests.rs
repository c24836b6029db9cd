//! The demo authorization server over real HTTP: JWKS, minting, token endpoint.
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use super::*;

const RESOURCE: &str = "https://mcp.example.com/mcp";

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn served_jwks(server: &AuthServer) -> Value {
    reqwest::get(server.jwks_uri())
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies `token` against the served JWK with the token's kid, taking
/// the algorithm from the JWK (never from the token).
fn verify(jwks: &Value, token: &str, issuer: &str) -> Value {
    let kid = decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("{kid} is not served"));
    let alg = match jwk["alg"].as_str().unwrap() {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        other => panic!("unexpected alg {other}"),
    };
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut validation = Validation::new(alg);
    validation.set_audience(&[RESOURCE]);
    validation.set_issuer(&[issuer]);
    decode::<Value>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn jwks_serves_exactly_the_current_keys_and_each_verifies() {
    let server = AuthServer::start(Options::default()).await.unwrap();
    assert_eq!(server.kids(), ["rs256-1"]);
    let es = server.add_key(KeyKind::Es256);
    let ed = server.add_key(KeyKind::EdDsa);
    assert_eq!((es.as_str(), ed.as_str()), ("es256-2", "eddsa-3"));
    assert_eq!(server.default_kid(), "eddsa-3");

    let jwks = served_jwks(&server).await;
    let served: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(served, server.kids());
    for jwk in jwks["keys"].as_array().unwrap() {
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none(), "private part leaked: {jwk}");
        assert_eq!(*jwk, server.public_jwk(jwk["kid"].as_str().unwrap()));
    }
    assert_eq!(jwks["keys"][0]["e"], "AQAB");
    assert_eq!(jwks["keys"][1]["crv"], "P-256");
    assert_eq!(jwks["keys"][2]["kty"], "OKP");

    for kid in server.kids() {
        let claims = server
            .state
            .claims("user-1", "demo-client", RESOURCE, "all");
        let token = server.sign(&kid, Value::Null, claims);
        let header = decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let claims = verify(&jwks, &token, &server.issuer);
        assert_eq!(claims["sub"], "user-1");
    }
    let claims = verify(&jwks, &server.access_token(RESOURCE, "all"), &server.issuer);
    assert_eq!(claims["client_id"], "demo-client");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        300
    );

    server.remove_key("rs256-1");
    assert_eq!(server.kids(), ["es256-2", "eddsa-3"]);
    assert_eq!(
        served_jwks(&server).await["keys"].as_array().unwrap().len(),
        2
    );
    // A retired key still signs, for "unknown kid" tests.
    assert!(!server.sign("rs256-1", Value::Null, json!({})).is_empty());

    server.set_jwks(json!({ "keys": [] }));
    server.add_key(KeyKind::Rs256);
    assert_eq!(served_jwks(&server).await, json!({ "keys": [] }));
    server.clear_jwks_override();
    assert_eq!(
        served_jwks(&server).await["keys"].as_array().unwrap().len(),
        3
    );
    assert_eq!(server.jwks_requests(), 4);
}

#[tokio::test]
async fn token_endpoint_issues_rfc_9068_tokens_to_its_client_only() {
    let server = AuthServer::start(Options {
        initial_keys: vec![KeyKind::Es256],
        ..Options::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let response = http
        .post(server.token_endpoint())
        .basic_auth("demo-client", Some(server.client_secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE),
            ("scope", "openid project:all offline_access made:up"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "project:all");
    let token = body["access_token"].as_str().unwrap();
    let claims = verify(&served_jwks(&server).await, token, &server.issuer);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["scope"], "project:all");
    assert_eq!(claims["client_id"], "demo-client");
    assert_eq!(claims["sub"], "demo-client");
    assert_eq!(claims["iss"], server.issuer.as_str());
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);

    let post = |pairs: &[(&str, &str)]| {
        http.post(server.token_endpoint())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
    };
    let wrong = post(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
        ("client_secret", "guess"),
        ("resource", RESOURCE),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let no_target = post(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
        ("client_secret", server.client_secret()),
    ])
    .await
    .unwrap();
    assert_eq!(no_target.status(), 400);
    assert_eq!(
        no_target.json::<Value>().await.unwrap()["error"],
        "invalid_target"
    );
    let get = http.get(server.token_endpoint()).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(server.token_requests(), 4);
}

#[test]
fn options_debug_hides_the_secret() {
    let options = Options::default();
    let debug = format!("{options:?}");
    assert!(!debug.contains(&options.client_secret), "{debug}");
}
