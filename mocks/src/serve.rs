//! Serving a router on a bound listener until told to stop: shared by both mocks.

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// A router being served. Dropping it aborts the server; [`Serving::shutdown`] stops it
/// gracefully.
#[derive(Debug)]
pub(crate) struct Serving {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Serving {
    /// Serves `router` on `listener` in a task.
    pub(crate) fn spawn(listener: TcpListener, router: Router) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { stop: Some(stop), task }
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub(crate) async fn shutdown(mut self) {
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
pub(crate) fn public_url(configured: Option<Url>, local: std::net::SocketAddr) -> Url {
    let mut url = configured.unwrap_or_else(|| {
        Url::parse(&format!("http://{local}/")).unwrap_or_else(|_| unreachable!("a socket address is a valid host"))
    });
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    url
}
