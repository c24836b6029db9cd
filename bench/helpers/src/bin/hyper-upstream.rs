//! A minimal hyper 1 HTTP/1.1 server: drains the request body and answers
//! every request `200 application/json` with one fixed JSON-RPC result.
//! Loopback only. Prints `{"port":N}` once listening.
//!
//!     hyper-upstream [--port N]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole body, as a real server would.
    let _ = req.into_body().collect().await;
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(warden_bench_helpers::RESULT)))
        .expect("static response"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = warden_bench_helpers::arg("--port").map_or(0, |p| p.parse().expect("port"));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{{\"port\":{}}}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
