//! Plumbing shared by the demo peers: loopback binding, bounded body reads
//! and random identifiers.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::net::TcpListener;

/// Binds `127.0.0.1:<port>`; the demo peers never listen anywhere else.
pub(crate) async fn bind_loopback(port: u16, who: &str) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    if !listener.local_addr()?.ip().is_loopback() {
        return Err(io::Error::other(format!("{who} binds loopback only")));
    }
    Ok(listener)
}

/// Why a request body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The client sent more than the limit.
    TooLarge,
    /// The connection failed while reading.
    Read,
}

/// Collects a request body, refusing more than `limit` bytes.
pub(crate) async fn read_body<S, B>(body: S, limit: usize) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| BodyError::Read)?;
        if out.len() + chunk.remaining() > limit {
            return Err(BodyError::TooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            out.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}

/// 128 random bits as 32 lowercase hex digits: session ids, `jti`, secrets.
pub(crate) fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
