//! Bounded HTTP fetches of JSON documents from the authorization server.
//!
//! Every fetch is limited in time (the whole exchange, headers and body, within
//! `fetch_timeout`) and size ([`MAX_DOCUMENT_BYTES`]), and every failure is
//! classified by [`FetchError::reason`] into the small fixed set used as a
//! metric label: `connect`, `timeout`, `status`, `body`, `parse`, `validation`.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use url::Url;

/// Largest discovery or JWKS document accepted (1 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why a fetch failed. Messages name the URL and the cause, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("{url} did not answer within {}", humantime::format_duration(*timeout))]
    Timeout { url: String, timeout: Duration },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: too many redirects (a redirect loop?)")]
    Redirects { url: String },
    #[error("{url}: {detail}")]
    Body { url: String, detail: String },
    #[error("{url}: invalid JSON: {detail}")]
    Parse { url: String, detail: String },
    #[error("{url}: {detail}")]
    Validation { url: String, detail: String },
}

/// The class of a [`FetchError`] (the `reason` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Connect,
    Timeout,
    Status,
    Body,
    Parse,
    Validation,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Connect,
        Reason::Timeout,
        Reason::Status,
        Reason::Body,
        Reason::Parse,
        Reason::Validation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Connect => "connect",
            Reason::Timeout => "timeout",
            Reason::Status => "status",
            Reason::Body => "body",
            Reason::Parse => "parse",
            Reason::Validation => "validation",
        }
    }
}

impl FetchError {
    pub fn kind(&self) -> Reason {
        match self {
            FetchError::Connect { .. } => Reason::Connect,
            FetchError::Timeout { .. } => Reason::Timeout,
            FetchError::Status { .. } | FetchError::Redirects { .. } => Reason::Status,
            FetchError::Body { .. } => Reason::Body,
            FetchError::Parse { .. } => Reason::Parse,
            FetchError::Validation { .. } => Reason::Validation,
        }
    }

    /// The metric label for this failure.
    pub fn reason(&self) -> &'static str {
        self.kind().as_str()
    }

    pub fn validation(url: &Url, detail: impl Into<String>) -> Self {
        FetchError::Validation {
            url: url.to_string(),
            detail: detail.into(),
        }
    }
}

/// Builds the client used for every authorization-server fetch.
pub fn client(connect_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("mcp-warden/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        // A redirect loop ends as an error instead of spinning.
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .expect("the TLS backend is compiled in, so the client always builds")
}

/// GETs `url` and parses the body as JSON, within `timeout` and
/// [`MAX_DOCUMENT_BYTES`].
pub async fn get_json(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
) -> Result<serde_json::Value, FetchError> {
    match tokio::time::timeout(timeout, get_bytes(client, url)).await {
        Ok(Ok(body)) => serde_json::from_slice(&body).map_err(|e| FetchError::Parse {
            url: url.to_string(),
            detail: e.to_string(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(FetchError::Timeout {
            url: url.to_string(),
            timeout,
        }),
    }
}

async fn get_bytes(client: &reqwest::Client, url: &Url) -> Result<BytesMut, FetchError> {
    let response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| classify(url, &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let too_large = || FetchError::Body {
        url: url.to_string(),
        detail: format!("document larger than {MAX_DOCUMENT_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FetchError::Body {
            url: url.to_string(),
            detail: format!("reading body: {e}"),
        })?;
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(url: &Url, e: &reqwest::Error) -> FetchError {
    let detail = error_chain(e);
    if e.is_redirect() {
        FetchError::Redirects {
            url: url.to_string(),
        }
    } else if e.is_timeout() {
        FetchError::Timeout {
            url: url.to_string(),
            timeout: Duration::ZERO,
        }
    } else {
        FetchError::Connect {
            url: url.to_string(),
            detail,
        }
    }
}

/// `e` and its sources, joined by `: ` (reqwest's own Display hides the cause).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
