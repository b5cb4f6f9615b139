//! Serving a router on a bound listener until told to stop: shared by both mocks. Each
//! connection is HTTP/1.1 with a deadline for a request's headers, which also bounds how long an
//! idle keep-alive connection is kept: a client that connects and sends nothing, or its headers
//! a byte at a time (slowloris), is cut off instead of holding the connection.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// How long a connection may take to send a request's headers, and stay idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A router being served. Dropping it aborts the server; [`Serving::shutdown`] stops it
/// gracefully.
#[derive(Debug)]
pub struct Serving {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Serving {
    /// Serves `router` on `listener` in a task.
    pub fn spawn(listener: TcpListener, router: Router) -> Self {
        Self::spawn_with(listener, router, HEADER_READ_TIMEOUT)
    }

    fn spawn_with(listener: TcpListener, router: Router, header_timeout: Duration) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let graceful = GracefulShutdown::new();
            let service = TowerToHyperService::new(router);
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            // Out of file descriptors, say: back off instead of spinning.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        let connection = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(header_timeout)
                            .serve_connection(TokioIo::new(stream), service.clone());
                        let connection = graceful.watch(connection);
                        tokio::spawn(async move {
                            let _ = connection.await;
                        });
                    }
                    _ = &mut stopped => break,
                }
            }
            drop(listener);
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
        });
        Self { stop: Some(stop), task }
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The public URL: the configured one, or `http://<bound address>/`; always with a trailing slash.
pub fn public_url(configured: Option<Url>, local: std::net::SocketAddr) -> Url {
    let mut url = configured.unwrap_or_else(|| {
        Url::parse(&format!("http://{local}/")).unwrap_or_else(|_| unreachable!("a socket address is a valid host"))
    });
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    url
}

/// A loopback port free on both `127.0.0.1` and `[::1]` right now (where IPv6 is off, free on
/// `127.0.0.1`), for a server that binds both, as chromedriver does; `None` when none is found in a few tries.
pub fn free_port_on_both_loopbacks() -> Option<u16> {
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
    (0..8).find_map(|_| {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
        let port = v4.local_addr().ok()?.port();
        match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => None,
            _ => Some(port),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::Serving;

    async fn server() -> (Serving, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new().route("/", get(|| async { "ok" }));
        (Serving::spawn_with(listener, router, Duration::from_millis(300)), addr)
    }

    /// Reads until the server closes the connection; the time it took and what came.
    async fn until_closed(socket: &mut TcpStream) -> (Duration, String) {
        let start = Instant::now();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (start.elapsed(), String::from_utf8_lossy(&seen).into_owned()),
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
                Err(_) => panic!("the server kept the connection open for 5 s"),
            }
        }
    }

    #[tokio::test]
    async fn headers_sent_too_slowly_are_cut_off() {
        let (_server, addr) = server().await;
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        socket.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        let (took, answer) = until_closed(&mut socket).await;
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(!answer.contains(" 200 "), "{answer}");
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed() {
        let (_server, addr) = server().await;
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        socket.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let (took, answer) = until_closed(&mut socket).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
