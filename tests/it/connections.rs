//! Connections that finish the TLS handshake and then send nothing, half a
//! request or nothing more are closed; no certificate holds more than its
//! share of connections, and no more than the listener's limit are open.

use std::time::Duration;

use caunoi::domain::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::helpers::{TestGateway, spawn_gateway_with, tls_connect as connect};

/// Longest any test here waits for the gateway to act.
const BOUND: Duration = Duration::from_secs(5);

/// A gateway whose slow and idle connections are closed within a second.
async fn impatient(adjust: impl FnOnce(&mut caunoi::config::Config)) -> TestGateway {
    spawn_gateway_with(|config| {
        config.limits.read_timeout = Duration::from_millis(300);
        config.limits.idle_timeout = Duration::from_millis(600);
        adjust(config);
    })
    .await
}

/// Reads until the gateway closes the connection, within the bound; what it
/// sent before.
async fn closed(stream: &mut TlsStream<TcpStream>) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(BOUND, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open after {BOUND:?}"
    );
    received
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_half_a_request_is_closed() {
    let gw = impatient(|_| {}).await;
    let dashboard = gw.pki.leaf("19", Role::Dashboard);
    // Nothing at all after the handshake, over either protocol.
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let mut silent = connect(&gw, &dashboard, alpn).await.unwrap();
        closed(&mut silent).await;
    }
    // Half the headers.
    let mut partial = connect(&gw, &dashboard, b"http/1.1").await.unwrap();
    partial
        .write_all(b"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: appl")
        .await
        .unwrap();
    closed(&mut partial).await;
    // The headers, and a tenth of the body they announce.
    let mut slow = connect(&gw, &dashboard, b"http/1.1").await.unwrap();
    slow.write_all(
        b"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"query\":",
    )
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&closed(&mut slow).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("INVALID_INPUT"), "{answer}");
}

#[tokio::test]
async fn a_connection_idle_after_its_requests_is_closed() {
    let gw = impatient(|_| {}).await;
    let dashboard = gw.pki.leaf("19", Role::Dashboard);
    // HTTP/1.1: one request answered, then no other.
    let mut kept = connect(&gw, &dashboard, b"http/1.1").await.unwrap();
    kept.write_all(b"GET /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/html\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&closed(&mut kept).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // HTTP/2: the preface, a request for the GraphiQL page on stream 1 (its
    // headers in HPACK: :method GET, :scheme https, :path /graphql,
    // :authority x), then silence.
    let mut quiet = connect(&gw, &dashboard, b"h2").await.unwrap();
    let mut frames = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frames.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS, empty
    let block = [&[0x82, 0x87][..], &[0x44, 8], b"/graphql", &[0x41, 1], b"x"].concat();
    frames.extend_from_slice(&[0, 0, block.len() as u8, 1, 0x05, 0, 0, 0, 1]);
    frames.extend_from_slice(&block);
    quiet.write_all(&frames).await.unwrap();
    let received = closed(&mut quiet).await;
    assert!(
        headers_on_stream_one(&received),
        "no answer before the close: {received:?}"
    );
}

/// Whether `received`, HTTP/2 frames, holds a HEADERS frame on stream 1.
fn headers_on_stream_one(mut received: &[u8]) -> bool {
    while received.len() >= 9 {
        let length = usize::from(received[0]) << 16
            | usize::from(received[1]) << 8
            | usize::from(received[2]);
        let (kind, stream) = (
            received[3],
            u32::from_be_bytes([received[5], received[6], received[7], received[8]]) & 0x7fff_ffff,
        );
        if kind == 1 && stream == 1 {
            return true;
        }
        received = &received[(9 + length).min(received.len())..];
    }
    false
}

/// Sends a small request on an HTTP/1.1 connection and reads its whole
/// answer; whether it was 200.
async fn answers(stream: &mut TlsStream<TcpStream>) -> bool {
    let request =
        b"GET /graphql?query=%7Bprovince%7Bcode%7D%7D HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let read = async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.ok().filter(|n| *n > 0)?;
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let length: usize = head.lines().find_map(|line| {
                let line = line.to_ascii_lowercase();
                line.strip_prefix("content-length:")?.trim().parse().ok()
            })?;
            if body.len() >= length {
                return Some(head.starts_with("HTTP/1.1 200"));
            }
        }
    };
    matches!(tokio::time::timeout(BOUND, read).await, Ok(Some(true)))
}

#[tokio::test]
async fn a_certificate_holds_at_most_its_share_of_connections() {
    let gw = impatient(|config| {
        config.limits.idle_timeout = Duration::from_secs(30);
        config.limits.read_timeout = Duration::from_secs(30);
        config.limits.connections_per_certificate = 2;
    })
    .await;
    let (dashboard, operator) = (
        gw.pki.leaf("19", Role::Dashboard),
        gw.pki.leaf("19", Role::Operator),
    );
    let mut first = connect(&gw, &dashboard, b"http/1.1").await.unwrap();
    let mut second = connect(&gw, &dashboard, b"http/1.1").await.unwrap();
    assert!(answers(&mut first).await && answers(&mut second).await);
    // A third of the same certificate is closed after its handshake.
    if let Ok(mut third) = connect(&gw, &dashboard, b"http/1.1").await {
        assert!(!answers(&mut third).await, "a third connection was served");
    }
    // Another certificate has its own share.
    let mut other = connect(&gw, &operator, b"http/1.1").await.unwrap();
    assert!(answers(&mut other).await);
    // A connection closed gives its place back.
    drop(first);
    let served_again = tokio::time::timeout(BOUND, async {
        loop {
            if let Ok(mut again) = connect(&gw, &dashboard, b"http/1.1").await
                && answers(&mut again).await
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        served_again.is_ok(),
        "the closed connection's place was not given back"
    );
    assert!(answers(&mut second).await);
}

#[tokio::test]
async fn no_more_than_the_listeners_limit_are_open() {
    let gw = impatient(|config| {
        config.limits.idle_timeout = Duration::from_secs(30);
        config.limits.read_timeout = Duration::from_secs(30);
        config.limits.connections = 2;
    })
    .await;
    let (dashboard, operator) = (
        gw.pki.leaf("19", Role::Dashboard),
        gw.pki.leaf("19", Role::Operator),
    );
    let mut first = connect(&gw, &dashboard, b"http/1.1").await.unwrap();
    let mut second = connect(&gw, &operator, b"http/1.1").await.unwrap();
    assert!(answers(&mut first).await && answers(&mut second).await);
    match connect(&gw, &operator, b"http/1.1").await {
        Err(_) => {}
        Ok(mut third) => assert!(!answers(&mut third).await, "a third connection was served"),
    }
    assert!(answers(&mut first).await);
}
