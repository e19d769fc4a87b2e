//! The HTTP inbox (feature `axum`): an endpoint that receives CloudEvents
//! in either content mode and admits each into an async store's inbox.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::problem::{Problem, json_response};
use iap_store::{Admission, AsyncDeliveryStore, BoxFuture};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::ReadLimits;
use integration_automation_patterns::envelope::state::Dispatched;

/// The media type of a success answer.
const JSON: &str = "application/json";

/// How an inbox reads a request: the [`ReadLimits`] of the event (2 MiB of
/// body, 128 headers, 256 members by default), and how long the body may
/// take to arrive once the headers have (30 seconds by default).
///
/// ```
/// use std::time::Duration;
/// use integration_automation_patterns::envelope::ReadLimits;
/// use iap_transport::http::InboxOptions;
///
/// let options = InboxOptions::default()
///     .limits(ReadLimits::default().body_bytes(64 * 1024))
///     .body_read_timeout(Duration::from_secs(5));
/// assert_eq!(options.read_limits().max_body_bytes(), 64 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxOptions {
    limits: ReadLimits,
    body_read_timeout: Duration,
}

impl Default for InboxOptions {
    fn default() -> Self {
        InboxOptions {
            limits: ReadLimits::default(),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

impl InboxOptions {
    /// Reads each event within `limits`: a body past its size is answered
    /// `413 Content Too Large`, too many members `400`. (Served by
    /// [`serve`](super::serve) or hyper's defaults, a request of more than
    /// 100 headers is refused by hyper first, with `431`.)
    #[must_use]
    pub fn limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers `408 Request Timeout` to a request whose body has not
    /// arrived within `timeout`.
    #[must_use]
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// The limits each event is read within.
    pub fn read_limits(&self) -> &ReadLimits {
        &self.limits
    }

    /// How long a request's body may take to arrive.
    pub fn max_body_read_time(&self) -> Duration {
        self.body_read_timeout
    }
}

/// A router that answers `POST path` as an inbox with the default
/// [`InboxOptions`]: see [`inbox_router_with`].
///
/// ```no_run
/// # async fn run(store: iap_store::sqlite::AsyncSqliteStore)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// use iap_store::sqlx::{self, Sqlite, Transaction};
/// use iap_transport::http::{ServeOptions, inbox_router, serve};
/// use integration_automation_patterns::{Envelope, state::Dispatched};
/// use serde_json::Value;
///
/// let app = inbox_router(
///     "/events",
///     store,
///     |tx: &mut Transaction<'static, Sqlite>, event: &Envelope<Dispatched, Value>| {
///         let order_id = event.payload()["order_id"].as_i64();
///         let event_id = event.event_id().to_owned();
///         Box::pin(async move {
///             sqlx::query("INSERT INTO shipments (order_id, event_id) VALUES (?, ?)")
///                 .bind(order_id)
///                 .bind(event_id)
///                 .execute(&mut **tx)
///                 .await
///         })
///     },
/// );
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// serve(listener, app, ServeOptions::default(), std::future::pending()).await?;
/// # Ok(())
/// # }
/// ```
pub fn inbox_router<S, P, T, E, F>(path: &str, store: S, effect: F) -> Router
where
    S: AsyncDeliveryStore,
    P: DeserializeOwned + Serialize + Send + Sync + 'static,
    T: Send + 'static,
    E: Display + Send + 'static,
    F: for<'t> Fn(&'t mut S::Tx, &'t Envelope<Dispatched, P>) -> BoxFuture<'t, Result<T, E>>
        + Send
        + Sync
        + 'static,
{
    inbox_router_with(path, store, effect, InboxOptions::default())
}

/// A router that answers `POST path` as an inbox: it reads the request's
/// body within `options` (answering `413` past its size limit and `408` when
/// it does not arrive in time), reads it as a CloudEvent (binary or
/// structured content mode) within the options' [`ReadLimits`], admits it
/// into `store` with `effect` (run inside the admitting transaction, as in
/// [`AsyncDeliveryStore::admit`]), and answers by [`receive`]'s rules. Merge
/// it into the service's router, or serve it as it is, with
/// [`serve`](super::serve) (which also bounds the time to send headers).
pub fn inbox_router_with<S, P, T, E, F>(
    path: &str,
    store: S,
    effect: F,
    options: InboxOptions,
) -> Router
where
    S: AsyncDeliveryStore,
    P: DeserializeOwned + Serialize + Send + Sync + 'static,
    T: Send + 'static,
    E: Display + Send + 'static,
    F: for<'t> Fn(&'t mut S::Tx, &'t Envelope<Dispatched, P>) -> BoxFuture<'t, Result<T, E>>
        + Send
        + Sync
        + 'static,
{
    let effect = Arc::new(effect);
    Router::new().route(
        path,
        post(move |request: Request| {
            let store = store.clone();
            let effect = Arc::clone(&effect);
            async move {
                let (parts, body) = request.into_parts();
                let limit = options.limits.max_body_bytes();
                let read = Limited::new(body, limit).collect();
                let body = match tokio::time::timeout(options.body_read_timeout, read).await {
                    Ok(Ok(body)) => body.to_bytes(),
                    Ok(Err(error)) if error.is::<LengthLimitError>() => {
                        return Problem::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "The event is too large",
                            format!("the body is larger than the {limit} bytes this inbox reads"),
                        )
                        .into_response();
                    }
                    Ok(Err(error)) => {
                        return Problem::new(
                            StatusCode::BAD_REQUEST,
                            "The body could not be read",
                            error.to_string(),
                        )
                        .into_response();
                    }
                    Err(_) => {
                        return Problem::new(
                            StatusCode::REQUEST_TIMEOUT,
                            "The body did not arrive in time",
                            format!(
                                "the body did not arrive within {:?}; send it again",
                                options.body_read_timeout
                            ),
                        )
                        .into_response();
                    }
                };
                receive_within(&options.limits, &store, &parts.headers, &body, &*effect).await
            }
        }),
    )
}

/// Admits one received request into `store` and answers it:
///
/// | what happened | answer |
/// |---|---|
/// | first delivery: the effect ran and committed | `201 Created` |
/// | a duplicate (same key, same payload): the effect did not run | `200 OK` |
/// | the event id reused for another event (payload or any attribute) | `409 Conflict` |
/// | not a valid CloudEvent, or past the read limits | `400 Bad Request`, naming the attribute |
/// | the database is busy or full | `503 Service Unavailable`, `Retry-After: 1` |
/// | the effect failed (nothing committed), or another store error | `500 Internal Server Error` |
///
/// Success answers are JSON (`{"id", "source", "admitted"}`); error answers
/// are `application/problem+json` with a `title`, the `status` and a
/// `detail` (and, for a bad event, the `attribute` at fault). A failed
/// effect's own error text is not sent back; with feature `tracing` it is
/// logged as a warning.
pub async fn receive<S, P, T, E, F>(
    store: &S,
    headers: &HeaderMap,
    body: &[u8],
    effect: &F,
) -> Response
where
    S: AsyncDeliveryStore,
    P: DeserializeOwned + Serialize + Send + Sync,
    T: Send,
    E: Display + Send,
    F: for<'t> Fn(&'t mut S::Tx, &'t Envelope<Dispatched, P>) -> BoxFuture<'t, Result<T, E>>
        + Send
        + Sync,
{
    receive_within(&ReadLimits::default(), store, headers, body, effect).await
}

/// [`receive`], reading the event within `limits`.
pub async fn receive_within<S, P, T, E, F>(
    limits: &ReadLimits,
    store: &S,
    headers: &HeaderMap,
    body: &[u8],
    effect: &F,
) -> Response
where
    S: AsyncDeliveryStore,
    P: DeserializeOwned + Serialize + Send + Sync,
    T: Send,
    E: Display + Send,
    F: for<'t> Fn(&'t mut S::Tx, &'t Envelope<Dispatched, P>) -> BoxFuture<'t, Result<T, E>>
        + Send
        + Sync,
{
    let envelope: Envelope<_, P> = match Envelope::from_http_within(limits, headers, body) {
        Ok(envelope) => envelope,
        Err(error) => return Problem::from(error).into_response(),
    };
    let id = envelope.event_id().to_owned();
    let source = envelope.source_system().to_owned();
    let admitted = |status: StatusCode, how: &str| {
        let body = json!({ "id": id, "source": source, "admitted": how });
        json_response(status, JSON, &body)
    };
    match store.admit(envelope, store.now(), effect).await {
        Ok(Admission::Processed(..)) => admitted(StatusCode::CREATED, "processed"),
        Ok(Admission::Duplicate(_)) => admitted(StatusCode::OK, "duplicate"),
        Ok(Admission::Failed(outcome)) => {
            iap_store::observe::effect_failed(&source, &id, outcome.reason());
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The event was not processed",
                "the receiver could not apply the event; nothing was committed, so sending it again is safe",
            )
            .into_response()
        }
        Err(error) => Problem::from(error).into_response(),
    }
}
