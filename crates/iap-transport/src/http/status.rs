//! What an HTTP response says about a send: the one table the HTTP sender
//! follows, and the `Retry-After` header it honours.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};

use iap_store::{Delivery, SendError};

/// The longest excerpt of a response body kept in a failure's reason.
const EXCERPT_CHARS: usize = 200;

/// The outcome of a send that got a response, received at `now`:
///
/// | response | outcome |
/// |---|---|
/// | `202 Accepted` | [`Delivery::Acknowledged`]: the receiver will process it itself |
/// | any other `2xx` | [`Delivery::Processed`] |
/// | `408`, `425`, `429`, any `5xx` | [`SendError::Transient`], not before `Retry-After` when given |
/// | anything else (`3xx`, which is not followed, any other `4xx`) | [`SendError::Permanent`] |
///
/// A failure's reason names the status and starts the body (its first 200
/// characters, whitespace collapsed). A send that got no response (a
/// timeout, a refused or broken connection) is transient.
pub fn outcome_of_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Delivery, SendError> {
    if status == StatusCode::ACCEPTED {
        return Ok(Delivery::Acknowledged);
    }
    if status.is_success() {
        return Ok(Delivery::Processed);
    }
    let reason = describe(status, body);
    if is_transient(status) {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, now));
        Err(SendError::Transient {
            reason,
            retry_after,
        })
    } else {
        Err(SendError::Permanent { reason })
    }
}

/// Whether a failed status may pass: a timeout, too early, too many
/// requests, or a server error.
fn is_transient(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
    ) || status.is_server_error()
}

/// "HTTP 422 Unprocessable Entity: {excerpt of the body}".
fn describe(status: StatusCode, body: &[u8]) -> String {
    let status_line = match status.canonical_reason() {
        Some(phrase) => format!("HTTP {} {phrase}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    };
    let text = String::from_utf8_lossy(body);
    let mut excerpt = String::new();
    for (count, word) in text.split_whitespace().enumerate() {
        if count > 0 {
            excerpt.push(' ');
        }
        excerpt.push_str(word);
        if excerpt.chars().count() > EXCERPT_CHARS {
            excerpt = excerpt.chars().take(EXCERPT_CHARS).collect();
            excerpt.push('…');
            break;
        }
    }
    if excerpt.is_empty() {
        status_line
    } else {
        format!("{status_line}: {excerpt}")
    }
}

/// The time a `Retry-After` value names, received at `now`: a number of
/// seconds, or an HTTP date in any of the three forms HTTP/1.1 accepts
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`,
/// `Sun Nov  6 08:49:37 1994`). `None` for anything else, which the sender
/// then ignores.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use iap_transport::http::retry_after;
///
/// let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
/// assert_eq!(retry_after("120", now), Some(Utc.with_ymd_and_hms(2026, 11, 27, 12, 2, 0).unwrap()));
/// assert_eq!(
///     retry_after("Fri, 27 Nov 2026 12:05:00 GMT", now),
///     Some(Utc.with_ymd_and_hms(2026, 11, 27, 12, 5, 0).unwrap())
/// );
/// assert_eq!(retry_after("soon", now), None);
/// ```
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        let seconds = value.parse::<i64>().ok()?;
        return now.checked_add_signed(TimeDelta::try_seconds(seconds)?);
    }
    http_date(value)
}

/// An HTTP date (RFC 9110, section 5.6.7), always in GMT.
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    const FORMS: [&str; 3] = [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ];
    FORMS
        .iter()
        .find_map(|form| NaiveDateTime::parse_from_str(value, form).ok())
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(1994, 11, 6, hour, minute, second)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn http_dates_are_read_in_all_three_forms() {
        let expected = Some(at(8, 49, 37));
        assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
        assert_eq!(http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
        assert_eq!(http_date("Sun Nov  6 08:49:37 1994"), expected);
        assert_eq!(http_date("06/11/1994"), None);
    }

    #[test]
    fn retry_after_refuses_what_is_no_wait() {
        let now = at(8, 0, 0);
        assert_eq!(retry_after("0", now), Some(now));
        assert_eq!(retry_after(" 30 ", now), Some(at(8, 0, 30)));
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("1.5", now), None);
        assert_eq!(retry_after("99999999999999999999", now), None);
        assert_eq!(retry_after("", now), None);
    }

    #[test]
    fn a_long_body_is_cut_and_its_whitespace_collapsed() {
        let body = format!("bad\n\n  input {}", "x".repeat(500));
        let reason = describe(StatusCode::UNPROCESSABLE_ENTITY, body.as_bytes());
        assert!(reason.starts_with("HTTP 422 Unprocessable Entity: bad input xxx"));
        assert_eq!(
            reason.chars().count(),
            "HTTP 422 Unprocessable Entity: ".len() + 201
        );
        assert_eq!(
            describe(StatusCode::from_u16(599).unwrap_or_default(), b" "),
            "HTTP 599"
        );
    }
}
