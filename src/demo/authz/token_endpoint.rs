//! The token endpoint's request rules, as pure functions: client
//! authentication (RFC 6749 §2.3), the `client_credentials` grant (§4.4),
//! scope selection (§3.3), the resource indicator (RFC 8707 §2) and error
//! responses (§5.2). The server turns an accepted request into a token.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use warp::http::{HeaderValue, StatusCode, header};

/// Scopes a token for a resource server never carries: OpenID Connect scopes
/// concern the userinfo endpoint and ID tokens, `offline_access` asks for a
/// refresh token (the client credentials grant has none). `oidc-provider`
/// drops them the same way.
const NOT_FOR_RESOURCES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// The client registered with the demo server.
pub(super) struct Client<'a> {
    pub(super) id: &'a str,
    pub(super) secret: &'a str,
}

/// An accepted token request.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Grant {
    pub(super) client_id: String,
    /// The granted scopes, space-separated (possibly empty).
    pub(super) scope: String,
    /// The RFC 8707 resource: the token's audience.
    pub(super) resource: String,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TokenError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: String,
}

impl TokenError {
    fn new(error: &'static str, description: impl Into<String>) -> TokenError {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        TokenError {
            status,
            error,
            description: description.into(),
        }
    }

    pub(super) fn into_response(self) -> warp::reply::Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = super::reply(self.status, body.to_string().into());
        let headers = response.headers_mut();
        // RFC 6749 §5.1/§5.2: token responses must not be cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            // §5.2: a 401 names the authentication scheme the client should use.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mcp-warden-demo\""),
            );
        }
        response
    }
}

/// Checks a `POST /token` request and decides what to grant.
pub(super) fn check(
    content_type: Option<&str>,
    authorization: Option<&str>,
    body: &[u8],
    client: &Client,
    catalog: &[String],
) -> Result<Grant, TokenError> {
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Err(TokenError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let form = Form::parse(body)?;
    let client_id = authenticate(authorization, &form, client)?;
    match form.one("grant_type") {
        None => return Err(TokenError::new("invalid_request", "grant_type is required")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(TokenError::new(
                "unsupported_grant_type",
                format!("this server only issues client_credentials tokens, not `{other}`"),
            ));
        }
    }
    let resource = resource(&form)?;
    Ok(Grant {
        client_id,
        scope: grant_scope(form.one("scope"), catalog),
        resource,
    })
}

/// The scopes granted for a request (RFC 6749 §3.3 lets the server narrow
/// them): requested scopes outside the catalog and those in
/// [`NOT_FOR_RESOURCES`] are dropped silently, duplicates once. No `scope`
/// at all means full access: `all` when the catalog has it, else every
/// catalog scope fit for a resource. A request whose scopes are all dropped
/// gets an empty scope, which is useful to test `insufficient_scope`.
pub(super) fn grant_scope(requested: Option<&str>, catalog: &[String]) -> String {
    let fit = |s: &str| catalog.iter().any(|c| c == s) && !NOT_FOR_RESOURCES.contains(&s);
    let requested: Vec<&str> = requested.unwrap_or("").split_whitespace().collect();
    let mut granted: Vec<&str> = Vec::new();
    if requested.is_empty() {
        if fit("all") {
            granted.push("all");
        } else {
            granted.extend(catalog.iter().map(String::as_str).filter(|s| fit(s)));
        }
    } else {
        for scope in requested {
            if fit(scope) && !granted.contains(&scope) {
                granted.push(scope);
            }
        }
    }
    granted.join(" ")
}

/// RFC 6749 §2.3: exactly one authentication method, HTTP Basic
/// (`client_secret_basic`) or form fields (`client_secret_post`).
fn authenticate(
    authorization: Option<&str>,
    form: &Form,
    client: &Client,
) -> Result<String, TokenError> {
    let basic = authorization.and_then(|value| {
        let (scheme, credentials) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("basic")
            .then(|| credentials.trim())
    });
    let (id, secret) = match (basic, form.one("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(TokenError::new(
                "invalid_request",
                "use one client authentication method, not both Basic and client_secret",
            ));
        }
        (Some(credentials), None) => {
            let decoded = STANDARD
                .decode(credentials)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| TokenError::new("invalid_client", "malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| TokenError::new("invalid_client", "malformed Basic credentials"))?;
            // §2.3.1: both halves are form-urlencoded before joining.
            let (id, secret) = (form_decode(id), form_decode(secret));
            if form.one("client_id").is_some_and(|f| f != id) {
                return Err(TokenError::new(
                    "invalid_request",
                    "client_id disagrees with the Basic credentials",
                ));
            }
            (id, secret)
        }
        (None, Some(secret)) => match form.one("client_id") {
            Some(id) => (id.to_string(), secret.to_string()),
            None => {
                return Err(TokenError::new(
                    "invalid_client",
                    "client_secret without client_id",
                ));
            }
        },
        (None, None) => {
            return Err(TokenError::new(
                "invalid_client",
                "client authentication is required",
            ));
        }
    };
    let secret_ok = verify_slices_are_equal(secret.as_bytes(), client.secret.as_bytes()).is_ok();
    if id == client.id && secret_ok {
        Ok(id)
    } else {
        Err(TokenError::new(
            "invalid_client",
            "unknown client or wrong secret",
        ))
    }
}

/// RFC 8707 §2: an absolute URI without a fragment. The demo issues one
/// audience per token, so it asks for exactly one.
fn resource(form: &Form) -> Result<String, TokenError> {
    let all = form.all("resource");
    let [resource] = all.as_slice() else {
        let description = if all.is_empty() {
            "resource is required (RFC 8707)"
        } else {
            "this server issues a token for exactly one resource"
        };
        return Err(TokenError::new("invalid_target", description));
    };
    match url::Url::parse(resource) {
        Ok(url) if url.fragment().is_none() => Ok(resource.to_string()),
        _ => Err(TokenError::new(
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        )),
    }
}

/// Form parameters; empty values count as absent (RFC 6749 §3.1).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Form, TokenError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // §3.1: parameters other than RFC 8707's `resource` appear at most once.
        for (i, (name, _)) in pairs.iter().enumerate() {
            if name != "resource" && pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(TokenError::new(
                    "invalid_request",
                    format!("parameter `{name}` is repeated"),
                ));
            }
        }
        Ok(Form(pairs))
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `application/x-www-form-urlencoded` decoding of one value.
fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Client = Client {
        id: "demo-client",
        secret: "s3cret",
    };
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn catalog() -> Vec<String> {
        ["openid", "offline_access", "all", "read", "write"]
            .map(String::from)
            .to_vec()
    }

    /// Content type, Authorization, body, expected (status, error).
    type Case<'a> = (Option<&'a str>, Option<String>, String, (u16, &'a str));

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn error(result: Result<Grant, TokenError>) -> (u16, &'static str) {
        let e = result.unwrap_err();
        (e.status.as_u16(), e.error)
    }

    #[test]
    fn basic_and_post_authentication_both_work() {
        let body = b"grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp&scope=read+openid+nope+read";
        let grant = check(
            FORM,
            Some(&basic("demo-client", "s3cret")),
            body,
            &CLIENT,
            &catalog(),
        );
        assert_eq!(
            grant.unwrap(),
            Grant {
                client_id: "demo-client".into(),
                scope: "read".into(),
                resource: "https://mcp.example.com/mcp".into(),
            }
        );
        let body = b"grant_type=client_credentials&client_id=demo-client&client_secret=s3cret&resource=https://r.example";
        let grant = check(FORM, None, body, &CLIENT, &catalog()).unwrap();
        assert_eq!(grant.scope, "all");
    }

    #[test]
    fn errors_follow_rfc_6749_and_8707() {
        let ok = "grant_type=client_credentials&resource=https://r.example";
        let auth = basic("demo-client", "s3cret");
        let cases: Vec<Case> = vec![
            (
                FORM,
                Some(basic("demo-client", "wrong")),
                ok.into(),
                (401, "invalid_client"),
            ),
            (
                FORM,
                Some(basic("other", "s3cret")),
                ok.into(),
                (401, "invalid_client"),
            ),
            (
                FORM,
                Some("Basic %%%".into()),
                ok.into(),
                (401, "invalid_client"),
            ),
            (FORM, None, ok.into(), (401, "invalid_client")),
            (
                FORM,
                None,
                format!("{ok}&client_secret=s3cret"),
                (401, "invalid_client"),
            ),
            (
                FORM,
                Some(auth.clone()),
                format!("{ok}&client_secret=s3cret"),
                (400, "invalid_request"),
            ),
            (
                Some("application/json"),
                Some(auth.clone()),
                ok.into(),
                (400, "invalid_request"),
            ),
            (
                FORM,
                Some(auth.clone()),
                "resource=https://r.example".into(),
                (400, "invalid_request"),
            ),
            (
                FORM,
                Some(auth.clone()),
                format!("{ok}&grant_type=client_credentials"),
                (400, "invalid_request"),
            ),
            (
                FORM,
                Some(auth.clone()),
                "grant_type=password&resource=https://r.example".into(),
                (400, "unsupported_grant_type"),
            ),
            (
                FORM,
                Some(auth.clone()),
                "grant_type=client_credentials".into(),
                (400, "invalid_target"),
            ),
            (
                FORM,
                Some(auth.clone()),
                format!("{ok}&resource=https://s.example"),
                (400, "invalid_target"),
            ),
            (
                FORM,
                Some(auth.clone()),
                "grant_type=client_credentials&resource=relative/path".into(),
                (400, "invalid_target"),
            ),
            (
                FORM,
                Some(auth.clone()),
                "grant_type=client_credentials&resource=https://r.example%23frag".into(),
                (400, "invalid_target"),
            ),
        ];
        for (content_type, authorization, body, expected) in cases {
            let result = check(
                content_type,
                authorization.as_deref(),
                body.as_bytes(),
                &CLIENT,
                &catalog(),
            );
            assert_eq!(error(result), expected, "{authorization:?} {body}");
        }
    }

    #[test]
    fn scope_selection() {
        let catalog = catalog();
        let cases = [
            (None, "all"),
            (Some("  "), "all"),
            (Some("write read write"), "write read"),
            (Some("openid offline_access unknown"), ""),
        ];
        for (requested, granted) in cases {
            assert_eq!(grant_scope(requested, &catalog), granted, "{requested:?}");
        }
        let without_all = ["openid", "read", "write"].map(String::from).to_vec();
        assert_eq!(grant_scope(None, &without_all), "read write");
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c%2"), "a:b c%2");
        assert_eq!(form_decode("%+1%41"), "% 1A");
        let client = Client {
            id: "demo client",
            secret: "p:w",
        };
        let body = b"grant_type=client_credentials&resource=https://r.example";
        let auth = basic("demo+client", "p%3Aw");
        assert!(check(FORM, Some(&auth), body, &client, &catalog()).is_ok());
    }
}
