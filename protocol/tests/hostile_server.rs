//! Reading answers from a misbehaving server on loopback: each way a body can go wrong is told
//! as what happened — timed out (after how long), cut off (after how many bytes), too large,
//! not JSON — and nothing is held beyond the cap.

use std::time::Duration;

use ak_protocol::http::{BodyError, MAX_BODY, describe, read_json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the server misbehaves after reading the request.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// A JSON header, then one byte of body every 100 ms, forever.
    Trickle,
    /// Promises 100 bytes, sends 10, closes.
    CutOff,
    /// Chunked, endless.
    Endless,
    /// A whole body that is not JSON.
    Html,
    /// Reads the request and never answers.
    Silent,
}

async fn serve(how: Misbehaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/.well-known/openid-configuration", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = match how {
                    Misbehaviour::Trickle => {
                        let _ = socket
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n",
                            )
                            .await;
                        loop {
                            if socket.write_all(b" ").await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Ok(())
                    }
                    Misbehaviour::CutOff => {
                        socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"issuer\":").await
                    }
                    Misbehaviour::Endless => {
                        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await;
                        let chunk = format!("{:x}\r\n{}\r\n", 65536, " ".repeat(65536));
                        while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                        Ok(())
                    }
                    Misbehaviour::Html => {
                        socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n<html>hi</html>").await
                    }
                    Misbehaviour::Silent => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        Ok(())
                    }
                };
            });
        }
    });
    url
}

async fn fetch(how: Misbehaviour) -> Result<serde_json::Value, String> {
    let deadline = Duration::from_secs(1);
    let client = reqwest::Client::builder().timeout(deadline).build().expect("client");
    let url = serve(how).await;
    let response = client.get(&url).send().await.map_err(|e| describe(&e, deadline))?;
    read_json(response, deadline).await.map_err(|e| match e {
        BodyError::TimedOut { read, .. } => {
            assert!(read > 0, "some bytes came before the deadline");
            e.to_string()
        }
        e => e.to_string(),
    })
}

#[tokio::test]
async fn a_trickled_body_is_a_timeout_not_bad_json() {
    let err = fetch(Misbehaviour::Trickle).await.expect_err("must fail");
    assert!(err.starts_with("timed out after 1 s while reading the body ("), "{err}");
}

#[tokio::test]
async fn a_body_cut_off_is_told_with_its_length() {
    let err = fetch(Misbehaviour::CutOff).await.expect_err("must fail");
    assert!(err.starts_with("the connection closed after 10 bytes, before the body's end"), "{err}");
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap() {
    let err = fetch(Misbehaviour::Endless).await.expect_err("must fail");
    assert_eq!(err, format!("the body is larger than {MAX_BODY} bytes; stopped reading"));
}

#[tokio::test]
async fn a_whole_body_that_is_not_json_is_said_so() {
    let err = fetch(Misbehaviour::Html).await.expect_err("must fail");
    assert!(err.starts_with("the body is not JSON ("), "{err}");
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_with_its_deadline() {
    let err = fetch(Misbehaviour::Silent).await.expect_err("must fail");
    assert_eq!(err, "timed out after 1 s without an answer");
}
