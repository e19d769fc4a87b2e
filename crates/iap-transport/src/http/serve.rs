//! Serving a router over HTTP/1 with read timeouts: a client that sends its
//! headers slowly, or never finishes them, is cut off instead of holding a
//! connection open for as long as it likes.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How [`serve`] treats its clients.
///
/// ```
/// use std::time::Duration;
/// use iap_transport::http::ServeOptions;
///
/// let options = ServeOptions::default().header_read_timeout(Duration::from_secs(5));
/// assert_eq!(options.max_header_read_time(), Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    header_read_timeout: Duration,
}

impl Default for ServeOptions {
    /// Ten seconds to send a request's headers.
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

impl ServeOptions {
    /// Closes a connection whose client has not sent a whole request's
    /// headers within `timeout` of starting them.
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's headers.
    pub fn max_header_read_time(&self) -> Duration {
        self.header_read_timeout
    }
}

/// Serves `app` on `listener` over HTTP/1 until `shutdown` completes, then
/// stops accepting, lets the requests in progress finish, and returns. Unlike
/// `axum::serve`, it closes a connection whose headers do not arrive within
/// [`ServeOptions::header_read_timeout`]; the inbox's own body timeout
/// ([`InboxOptions::body_read_timeout`](super::InboxOptions::body_read_timeout))
/// bounds the body. Once stopping, it closes the listener at once, so that
/// new clients are refused rather than queued. An error accepting a
/// connection (a client gone, too many open files) is waited out; the error
/// returned is the listener's own.
///
/// ```no_run
/// # async fn run(app: iap_transport::http::axum::Router)
/// # -> std::io::Result<()> {
/// use iap_transport::http::{ServeOptions, serve};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// // Stops when the future completes: a ctrl-c, say.
/// serve(listener, app, ServeOptions::default(), std::future::pending()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reaps finished connections, so that the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => match AcceptError::of(&error) {
                // That client gave up before it was accepted.
                AcceptError::ClientGone => continue,
                // Out of file descriptors or memory: wait for some to free.
                AcceptError::OutOfResources => {
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
                AcceptError::Listener => return Err(error),
            },
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let stop_asked = async {
                // A guard of the flag is not held across the await.
                let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
            };
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop_asked => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    // New clients are refused at once, not queued while the rest drain.
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// What an error accepting a connection means for the server.
enum AcceptError {
    /// The client's connection ended before it was accepted.
    ClientGone,
    /// The process or the system is out of file descriptors, buffers or
    /// memory: it passes as connections close.
    OutOfResources,
    /// The listener itself failed.
    Listener,
}

impl AcceptError {
    /// Linux's codes for too many open files (per process and in all), no
    /// buffer space and no memory.
    const OUT_OF_RESOURCES: [i32; 4] = [24, 23, 105, 12];

    fn of(error: &io::Error) -> AcceptError {
        use io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
        ) {
            AcceptError::ClientGone
        } else if error
            .raw_os_error()
            .is_some_and(|code| Self::OUT_OF_RESOURCES.contains(&code))
        {
            AcceptError::OutOfResources
        } else {
            AcceptError::Listener
        }
    }
}
