//! The HTTP sender: POSTs each event to one endpoint, as a webhook.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::status::outcome_of_response;
use crate::TransportError;
use iap_store::{Delivery, SendError};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::ContentMode;
use integration_automation_patterns::envelope::state::State;

/// The most of a failed response's body read for its reason.
const BODY_READ_LIMIT: usize = 4096;

/// POSTs events to one HTTP endpoint, in binary content mode by default
/// (the `ce-` headers and the data as the body, as webhooks expect) or in
/// structured mode. The response decides the outcome, by
/// [`outcome_of_response`](super::outcome_of_response); a send that gets no
/// response within the timeout (default 10 s), or cannot connect, is
/// transient. Redirects are not followed: a `3xx` is a permanent failure
/// that says the endpoint has moved.
///
/// With the relay (feature `async`), an `HttpSender` is a
/// [`Sender`](iap_relay::Sender) as it is.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use integration_automation_patterns::Envelope;
/// use iap_transport::http::HttpSender;
///
/// let sender = HttpSender::new("https://erp.example.com/events")?
///     .header("authorization", "Bearer s3cr3t")?;
/// let envelope = Envelope::builder()
///     .event_id("order-1")
///     .event_type("shop.order.placed")
///     .source_system("shop")
///     .payload(serde_json::json!({ "order_id": 1 }))
///     .build()?;
/// let delivery = sender.post(&envelope).await?;
/// println!("{delivery:?}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HttpSender {
    client: reqwest::Client,
    url: reqwest::Url,
    mode: ContentMode,
    headers: HeaderMap,
    timeout: Duration,
}

impl HttpSender {
    /// The time a send may take, from connecting to the end of the response,
    /// unless [`timeout`](Self::timeout) says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A sender to `url` on a client of its own (rustls, no redirects,
    /// connections kept alive, 5 s to connect).
    pub fn new(url: &str) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| TransportError::Client {
                reason: error_chain(&error),
            })?;
        Self::with_client(client, url)
    }

    /// A sender to `url` on the caller's client (its proxy, TLS roots and
    /// pool settings). Build it with `redirect(Policy::none())` to keep the
    /// rule that a `3xx` is a failure.
    pub fn with_client(client: reqwest::Client, url: &str) -> Result<Self, TransportError> {
        let url = reqwest::Url::parse(url).map_err(|error| TransportError::Url {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::Url {
                url: url.to_string(),
                reason: "the scheme is not http or https".into(),
            });
        }
        Ok(HttpSender {
            client,
            url,
            mode: ContentMode::Binary,
            headers: HeaderMap::new(),
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Sends in `mode` from now on. An event that binary mode cannot carry as
    /// it is ([`Envelope::fits_binary_mode`]: its data is itself a CloudEvent,
    /// say) is sent in structured mode whatever the mode.
    #[must_use]
    pub fn content_mode(mut self, mode: ContentMode) -> Self {
        self.mode = mode;
        self
    }

    /// Gives each send at most `timeout`, from connecting to the end of the
    /// response.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a header to every request (`authorization`, say); a name or
    /// value HTTP cannot carry is refused, naming the header.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, TransportError> {
        let refused = |reason: String| TransportError::Header {
            name: name.to_owned(),
            reason,
        };
        let header_name = HeaderName::try_from(name).map_err(|error| refused(error.to_string()))?;
        let value = HeaderValue::try_from(value).map_err(|error| refused(error.to_string()))?;
        self.headers.append(header_name, value);
        Ok(self)
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// POSTs `envelope` and reads the outcome from the response. An event
    /// that cannot be written as a message is a permanent failure. The
    /// future owns what it needs: it does not borrow the envelope.
    pub fn post<S: State, P: Serialize>(
        &self,
        envelope: &Envelope<S, P>,
    ) -> impl Future<Output = Result<Delivery, SendError>> + Send + 'static {
        let mode = match envelope.fits_binary_mode() {
            true => self.mode,
            false => ContentMode::Structured,
        };
        let request = envelope
            .to_http(mode)
            .map_err(|error| SendError::Permanent {
                reason: format!("the event cannot be sent over HTTP: {error}"),
            })
            .map(|(headers, body)| {
                let mut all = self.headers.clone();
                all.extend(headers);
                self.client
                    .post(self.url.clone())
                    .headers(all)
                    .body(body)
                    .timeout(self.timeout)
            });
        let url = self.url.clone();
        async move {
            let response = request?
                .send()
                .await
                .map_err(|error| SendError::Transient {
                    reason: no_response(&url, &error),
                    retry_after: None,
                })?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = if status.is_success() {
                Vec::new()
            } else {
                read_excerpt(response).await
            };
            outcome_of_response(status, &headers, &body, Utc::now())
        }
    }
}

impl<P: Serialize + Send + Sync + 'static> iap_relay::Sender<P> for HttpSender {
    fn send(
        &self,
        envelope: &Envelope<integration_automation_patterns::state::Dispatched, P>,
    ) -> impl Future<Output = Result<Delivery, SendError>> + Send + 'static {
        self.post(envelope)
    }
}

/// The start of a response body, for a failure's reason; what could be read
/// if the body breaks off.
async fn read_excerpt(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < BODY_READ_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(BODY_READ_LIMIT);
    body
}

/// Why a send got no response, in words an operator can act on. reqwest's
/// own message only repeats the address; its sources say what went wrong.
fn no_response(url: &reqwest::Url, error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "no response in time from"
    } else if error.is_connect() {
        "cannot connect to"
    } else {
        "the request failed to"
    };
    match std::error::Error::source(error) {
        Some(cause) => format!("{what} {url}: {}", error_chain(cause)),
        None => format!("{what} {url}: {error}"),
    }
}

/// An error and its sources, joined: reqwest's own message alone ("error
/// sending request") does not say what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
