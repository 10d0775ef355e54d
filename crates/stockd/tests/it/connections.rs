//! The listener: slow and idle connections are closed, open connections are
//! limited, refusals hyper makes itself have the error body, and a stop
//! closes kept-alive connections.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_with, Spawn, TestApp, ADMIN_KEY};

/// The longest a test waits for the server to close a connection: far
/// beyond the timeouts it sets, so that only a connection never closed
/// fails it.
const CLOSE_WAIT: Duration = Duration::from_secs(60);

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("a connection")
}

/// Reads until the server closes the connection (end of stream or a
/// reset), within [`CLOSE_WAIT`]; returns what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let closing = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(CLOSE_WAIT, closing)
        .await
        .expect("the server closes the connection");
    received
}

/// Sends one request and reads its whole response (a `Content-Length` body).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, Vec<u8>) {
    stream.write_all(request).await.expect("sent");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.expect("read");
        assert!(n > 0, "the connection closed mid-response");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("a content-length");
        if body.len() >= length {
            let status = head[9..12].parse().unwrap();
            return (status, body.as_bytes().to_vec());
        }
    }
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: stockd\r\n\r\n";

#[tokio::test]
async fn a_connection_slow_to_send_its_headers_is_closed() {
    let app = spawn_with(Spawn::with_vars(&[(
        "STOCKD_SERVER__HEADER_READ_TIMEOUT_MS",
        "500",
    )]))
    .await;
    // Slowloris: a request line, then a header now and then, never the end.
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: stockd\r\n")
        .await
        .unwrap();
    let (mut reading, mut writing) = slow.split();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writing.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
        }
    };
    let closed = async {
        let mut buffer = [0u8; 64];
        if let Ok(n) = reading.read(&mut buffer).await {
            assert_eq!(n, 0, "a slow request was answered");
        }
    };
    tokio::time::timeout(CLOSE_WAIT, async {
        tokio::select! {
            () = trickle => {}
            () = closed => {}
        }
    })
    .await
    .expect("the slow connection is closed");
    // A connection that sends nothing at all is closed too.
    let mut silent = connect(&app).await;
    assert!(read_until_closed(&mut silent).await.is_empty());
    // And a request sent at once is answered as always.
    let mut prompt = connect(&app).await;
    assert_eq!(exchange(&mut prompt, HEALTH).await.0, 200);
}

#[tokio::test]
async fn a_kept_alive_connection_left_idle_is_closed() {
    let app = spawn_with(Spawn::with_vars(&[("STOCKD_SERVER__IDLE_TIMEOUT_S", "1")])).await;
    let mut connection = connect(&app).await;
    assert_eq!(exchange(&mut connection, HEALTH).await.0, 200);
    assert_eq!(
        exchange(&mut connection, HEALTH).await.0,
        200,
        "kept alive for a second request"
    );
    assert!(read_until_closed(&mut connection).await.is_empty());
}

#[tokio::test]
async fn connections_over_the_maximum_are_closed_and_those_open_keep_working() {
    let app = spawn_with(Spawn::with_vars(&[("STOCKD_SERVER__CONNECTIONS_MAX", "2")])).await;
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    assert_eq!(exchange(&mut first, HEALTH).await.0, 200);
    assert_eq!(exchange(&mut second, HEALTH).await.0, 200);
    let mut third = connect(&app).await;
    // Closed on arrival: whatever it sends gets no answer.
    let _ = third.write_all(HEALTH).await;
    assert!(read_until_closed(&mut third).await.is_empty());
    assert_eq!(exchange(&mut first, HEALTH).await.0, 200);
    assert_eq!(exchange(&mut second, HEALTH).await.0, 200);
}

fn error_code(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).expect("a JSON body");
    value["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn requests_hyper_cannot_read_get_the_error_body() {
    let app = spawn_with(Spawn::with_vars(&[
        ("STOCKD_SERVER__HEADERS_MAX", "20"),
        ("STOCKD_SERVER__HEADER_BYTES_MAX", "4096"),
    ]))
    .await;
    let many: String = (0..21).map(|n| format!("X-Field-{n}: 1\r\n")).collect();
    let long = format!("X-Long: {}\r\n", "a".repeat(5000));
    let cases = [
        (
            b"GET /health HTTP/1.1\r\nHost: stockd\rX-Bare: cr\r\n\r\n".to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (
            format!("GET /health HTTP/1.1\r\nHost: stockd\r\n{many}\r\n").into_bytes(),
            431,
            "HEADERS_TOO_LARGE",
        ),
        (
            format!("GET /health HTTP/1.1\r\nHost: stockd\r\n{long}\r\n").into_bytes(),
            431,
            "HEADERS_TOO_LARGE",
        ),
    ];
    for (request, status, code) in cases {
        let mut connection = connect(&app).await;
        connection.write_all(&request).await.unwrap();
        let response = read_until_closed(&mut connection).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("a response");
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{text}"
        );
        assert_eq!(error_code(body.as_bytes()), code, "{text}");
    }
    // Within the limits, the same requests are served as always.
    let mut connection = connect(&app).await;
    let fits: String = (0..15).map(|n| format!("X-Field-{n}: 1\r\n")).collect();
    let request = format!("GET /health HTTP/1.1\r\nHost: stockd\r\n{fits}\r\n");
    assert_eq!(exchange(&mut connection, request.as_bytes()).await.0, 200);
    // A refusal of the router's own keeps its own body.
    let (status, body) = app
        .request(
            reqwest::Method::GET,
            Some(ADMIN_KEY),
            "/api/v1/nowhere",
            None,
        )
        .await;
    assert_eq!(
        (status, crate::helpers::code(&body)),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
}

#[tokio::test]
async fn a_stop_closes_kept_alive_connections_and_waits_for_none() {
    // A long shutdown timeout: the stop must not need it.
    let mut app = spawn_with(Spawn::with_vars(&[
        ("STOCKD_SERVER__SHUTDOWN_TIMEOUT_S", "600"),
        ("STOCKD_SERVER__IDLE_TIMEOUT_S", "600"),
    ]))
    .await;
    let mut idle = connect(&app).await;
    assert_eq!(exchange(&mut idle, HEALTH).await.0, 200);
    app.signal_stop();
    assert!(read_until_closed(&mut idle).await.is_empty());
    let status = app.wait_for_exit(CLOSE_WAIT).await;
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("still in flight"), "{log}");
}
