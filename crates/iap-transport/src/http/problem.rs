//! Errors answered as HTTP problems: `application/problem+json` bodies (RFC
//! 9457) with a status that tells the client whether sending again may help.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use serde_json::json;

use crate::refusal::shortened;
use iap_store::StoreError;
use integration_automation_patterns::EnvelopeError;
use integration_automation_patterns::envelope::FormatError;

/// The media type of problem answers.
const PROBLEM_JSON: &str = "application/problem+json";

/// How long a client should wait before sending again to a busy store, in
/// seconds.
const BUSY_RETRY_SECONDS: u32 = 1;

/// An error answered as `application/problem+json`: a status, a title, a
/// detail, and where it helps, the CloudEvents attribute at fault and a
/// `Retry-After`. The inbox answers its own errors so; a handler of your own
/// returns `Result<_, Problem>` and turns a [`StoreError`], a
/// [`FormatError`] or an [`EnvelopeError`] into one with `?`:
///
/// | error | answer |
/// |---|---|
/// | [`FormatError`]: not a valid CloudEvent, or past the read limits | `400 Bad Request`, naming the attribute |
/// | [`EnvelopeError`]: an event built from the request is not valid | `400 Bad Request` |
/// | [`StoreError::NotFound`], [`StoreError::NotQuarantined`] | `404 Not Found` |
/// | [`StoreError::KeyReused`], [`StoreError::AlreadyEnqueued`], [`StoreError::WrongState`] | `409 Conflict` |
/// | a retryable error ([`StoreError::is_retryable`]: busy, storage full) | `503 Service Unavailable`, `Retry-After: 1` |
/// | any other store error | `500 Internal Server Error`, without the database's words (logged with feature `tracing`) |
///
/// ```
/// use iap_store::StoreError;
/// use iap_transport::http::Problem;
/// use iap_transport::http::axum::http::StatusCode;
///
/// let missing = StoreError::NotFound {
///     source_system: "shop".into(),
///     event_id: "order-7".into(),
/// };
/// assert_eq!(Problem::from(missing).status(), StatusCode::NOT_FOUND);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    title: String,
    detail: String,
    attribute: Option<String>,
    retry_after: Option<u32>,
}

impl Problem {
    /// A problem with this status, title (the same for every problem of its
    /// kind) and detail (this occurrence).
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem {
            status,
            title: title.into(),
            detail: detail.into(),
            attribute: None,
            retry_after: None,
        }
    }

    /// Asks the client to wait `seconds` before sending again (`Retry-After`).
    #[must_use]
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The answer's detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.status, self.detail)
    }
}

impl std::error::Error for Problem {}

impl From<EnvelopeError> for Problem {
    /// An event that could not be built from what the client sent: `400`.
    fn from(error: EnvelopeError) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Not a valid event",
            shortened(error.to_string()),
        )
    }
}

impl From<FormatError> for Problem {
    fn from(error: FormatError) -> Self {
        let attribute = error.attribute().map(|name| shortened(name.to_owned()));
        Problem {
            attribute,
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "Not a valid CloudEvent",
                shortened(error.to_string()),
            )
        }
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        let detail = error.to_string();
        match error {
            StoreError::NotFound { .. } | StoreError::NotQuarantined { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "No such envelope", detail)
            }
            StoreError::KeyReused { .. } => {
                Problem::new(StatusCode::CONFLICT, "Event id reused", detail)
            }
            StoreError::AlreadyEnqueued { .. } => {
                Problem::new(StatusCode::CONFLICT, "Event already in the outbox", detail)
            }
            StoreError::WrongState { .. } => Problem::new(
                StatusCode::CONFLICT,
                "The envelope is in another state",
                detail,
            ),
            StoreError::StorageFull { .. } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The store's storage is full",
                format!("{detail}; nothing was committed"),
            )
            .retry_after(BUSY_RETRY_SECONDS),
            error if error.is_retryable() => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The store is busy",
                format!("{detail}; nothing was committed"),
            )
            .retry_after(BUSY_RETRY_SECONDS),
            // A database's own words may name tables, paths or hosts: they
            // go to the log (with feature `tracing`), not to the client.
            error => {
                iap_store::observe::store_failed(&error);
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The store failed",
                    "the receiver's store failed; its log says why",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(attribute) = self.attribute {
            body["attribute"] = json!(attribute);
        }
        let mut response = json_response(self.status, PROBLEM_JSON, &body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON answer with this status and media type.
pub(super) fn json_response(
    status: StatusCode,
    media_type: &'static str,
    body: &serde_json::Value,
) -> Response {
    let mut response = (status, Body::from(body.to_string())).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> (String, String) {
        ("shop".to_owned(), "order-7".to_owned())
    }

    #[test]
    fn each_store_error_is_answered_with_the_status_that_says_what_to_do() {
        let (source_system, event_id) = key();
        let cases = [
            (
                StoreError::NotFound {
                    source_system: source_system.clone(),
                    event_id: event_id.clone(),
                },
                StatusCode::NOT_FOUND,
            ),
            (
                StoreError::KeyReused {
                    source_system: source_system.clone(),
                    event_id: event_id.clone(),
                },
                StatusCode::CONFLICT,
            ),
            (
                StoreError::Busy {
                    reason: "database is locked".to_owned(),
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::InsideAsyncRuntime,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            let retryable = error.is_retryable();
            let response = Problem::from(error).into_response();
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
            assert_eq!(
                response.headers().get(RETRY_AFTER).is_some(),
                retryable,
                "{status}"
            );
        }
    }

    #[tokio::test]
    async fn the_body_names_the_title_the_status_the_detail_and_the_attribute() {
        let error = FormatError::MissingAttribute("source");
        let response = Problem::from(error).into_response();
        let body = axum::body::to_bytes(response.into_body(), 4096).await;
        let body: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
        assert_eq!(body["title"], "Not a valid CloudEvent");
        assert_eq!(body["status"], 400);
        assert_eq!(body["attribute"], "source");
    }
}
