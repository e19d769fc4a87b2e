//! The HTTP sender against a local server: every row of the status table
//! (`Retry-After` in both forms included), a server that accepts the
//! connection and never answers, a port where nothing listens, and what the
//! request carries in each content mode.

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use iap_store::{Delivery, SendError};
use iap_transport::http::HttpSender;
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::ContentMode;
use integration_automation_patterns::state::Pending;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn order_event() -> Envelope<Pending> {
    Envelope::builder()
        .event_id("order-7-placed")
        .event_type("shop.order.placed")
        .source_system("shop")
        .payload(json!({ "order_id": 7 }))
        .build()
        .unwrap()
}

/// A request as the server read it: the head (request line and headers,
/// lowercased) and the body.
struct Received {
    head: String,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key == name).then(|| value.trim())
        })
    }
}

/// A server for one request that answers with `response` (a whole HTTP/1.1
/// response), or never answers when `response` is `None`. Returns the
/// endpoint and the request it received.
async fn serve_once(response: Option<String>) -> (String, oneshot::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (received, receiver) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let request = read_request(&mut socket).await;
        let _ = received.send(request);
        match response {
            Some(response) => socket.write_all(response.as_bytes()).await.unwrap(),
            None => tokio::time::sleep(Duration::from_secs(60)).await,
        }
    });
    (url, receiver)
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Received {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = socket.read(&mut chunk).await.unwrap();
        assert!(read > 0, "the client closed the connection mid-request");
        bytes.extend_from_slice(&chunk[..read]);
        let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |value| value.trim().parse().unwrap());
        if bytes.len() >= end + 4 + length {
            return Received {
                body: bytes[end + 4..end + 4 + length].to_vec(),
                head,
            };
        }
    }
}

fn response(status_line: &str, headers: &[&str], body: &str) -> String {
    let mut response = format!(
        "HTTP/1.1 {status_line}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for header in headers {
        response.push_str(header);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    response.push_str(body);
    response
}

async fn send_with(status_line: &str, headers: &[&str], body: &str) -> Result<Delivery, SendError> {
    let (url, _received) = serve_once(Some(response(status_line, headers, body))).await;
    HttpSender::new(&url).unwrap().post(&order_event()).await
}

#[tokio::test]
async fn successes_are_processed_and_202_is_acknowledged() {
    for status_line in ["200 OK", "201 Created", "204 No Content"] {
        assert_eq!(
            send_with(status_line, &[], "").await,
            Ok(Delivery::Processed),
            "{status_line}"
        );
    }
    assert_eq!(
        send_with("202 Accepted", &[], "").await,
        Ok(Delivery::Acknowledged)
    );
}

#[tokio::test]
async fn timeouts_throttling_and_server_errors_are_transient() {
    for status_line in [
        "408 Request Timeout",
        "425 Too Early",
        "429 Too Many Requests",
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
    ] {
        match send_with(status_line, &[], "try later").await {
            Err(SendError::Transient {
                reason,
                retry_after,
            }) => {
                assert_eq!(reason, format!("HTTP {status_line}: try later"));
                assert_eq!(retry_after, None);
            }
            other => panic!("{status_line}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn retry_after_in_seconds_is_a_time_from_now() {
    let before = Utc::now();
    let result = send_with("429 Too Many Requests", &["retry-after: 120"], "").await;
    let Err(SendError::Transient {
        retry_after: Some(at),
        ..
    }) = result
    else {
        panic!("{result:?}");
    };
    assert!(at >= before + TimeDelta::seconds(120));
    assert!(at <= Utc::now() + TimeDelta::seconds(120));
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_that_time() {
    let result = send_with(
        "503 Service Unavailable",
        &["retry-after: Wed, 21 Oct 2099 07:28:00 GMT"],
        "",
    )
    .await;
    let expected = Utc.with_ymd_and_hms(2099, 10, 21, 7, 28, 0).unwrap();
    assert_eq!(
        result,
        Err(SendError::Transient {
            reason: "HTTP 503 Service Unavailable".into(),
            retry_after: Some(expected),
        })
    );
}

#[tokio::test]
async fn a_retry_after_that_is_no_time_is_ignored() {
    let result = send_with("503 Service Unavailable", &["retry-after: soon"], "").await;
    assert!(
        matches!(
            result,
            Err(SendError::Transient {
                retry_after: None,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn other_client_errors_are_permanent_with_status_and_body() {
    for (status_line, body) in [
        ("400 Bad Request", "{\"error\": \"missing field `sku`\"}"),
        ("401 Unauthorized", ""),
        ("404 Not Found", "no such endpoint"),
        ("410 Gone", ""),
        ("422 Unprocessable Entity", "order_id must be positive"),
    ] {
        let expected = if body.is_empty() {
            format!("HTTP {status_line}")
        } else {
            format!("HTTP {status_line}: {body}")
        };
        assert_eq!(
            send_with(status_line, &[], body).await,
            Err(SendError::Permanent { reason: expected }),
        );
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_permanent() {
    let result = send_with(
        "301 Moved Permanently",
        &["location: http://elsewhere.invalid/"],
        "",
    )
    .await;
    assert_eq!(
        result,
        Err(SendError::Permanent {
            reason: "HTTP 301 Moved Permanently".into()
        })
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    let (url, _received) = serve_once(None).await;
    let sender = HttpSender::new(&url)
        .unwrap()
        .timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let result = sender.post(&order_event()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    match result {
        Err(SendError::Transient {
            reason,
            retry_after: None,
        }) => {
            assert!(
                reason.starts_with("no response in time from http://127.0.0.1:"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_port_where_nothing_listens_is_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    drop(listener);
    match HttpSender::new(&url).unwrap().post(&order_event()).await {
        Err(SendError::Transient {
            reason,
            retry_after: None,
        }) => {
            assert!(
                reason.starts_with("cannot connect to http://127.0.0.1:"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn binary_mode_sends_ce_headers_and_the_data_as_the_body() {
    let (url, received) = serve_once(Some(response("200 OK", &[], ""))).await;
    let sender = HttpSender::new(&url)
        .unwrap()
        .header("authorization", "Bearer s3cr3t")
        .unwrap();
    sender.post(&order_event()).await.unwrap();
    let request = received.await.unwrap();
    assert!(request.head.starts_with("post /events http/1.1"));
    assert_eq!(request.header("ce-id"), Some("order-7-placed"));
    assert_eq!(request.header("ce-type"), Some("shop.order.placed"));
    assert_eq!(request.header("ce-source"), Some("shop"));
    assert_eq!(request.header("ce-specversion"), Some("1.0"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("authorization"), Some("bearer s3cr3t"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({ "order_id": 7 }));
}

#[tokio::test]
async fn structured_mode_sends_the_event_as_one_json_document() {
    let (url, received) = serve_once(Some(response("200 OK", &[], ""))).await;
    let sender = HttpSender::new(&url)
        .unwrap()
        .content_mode(ContentMode::Structured);
    sender.post(&order_event()).await.unwrap();
    let request = received.await.unwrap();
    assert_eq!(
        request.header("content-type"),
        Some("application/cloudevents+json")
    );
    assert_eq!(request.header("ce-id"), None);
    let event: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(event["id"], "order-7-placed");
    assert_eq!(event["data"], json!({ "order_id": 7 }));
}

#[tokio::test]
async fn an_event_whose_data_is_an_event_is_sent_structured_in_binary_mode_too() {
    let (url, received) = serve_once(Some(response("200 OK", &[], ""))).await;
    let audit = Envelope::builder()
        .event_id("audit-1")
        .event_type("audit.event.seen")
        .source_system("/audit")
        .payload(
            json!({ "specversion": "1.0", "id": "forged-99", "source": "/payments",
                         "type": "payment.approved" }),
        )
        .data_content_type("application/cloudevents+json")
        .build()
        .unwrap();
    HttpSender::new(&url).unwrap().post(&audit).await.unwrap();
    let request = received.await.unwrap();
    assert_eq!(request.header("ce-id"), None);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        request.header("content-type").unwrap().parse().unwrap(),
    );
    let read: Envelope<Pending> = Envelope::from_http(&headers, &request.body).unwrap();
    assert_eq!(
        read,
        audit.to_received(),
        "read back as itself, not as its data"
    );
}

#[test]
fn endpoints_and_headers_that_cannot_work_are_refused_by_name() {
    let error = HttpSender::new("ftp://example.com/events").unwrap_err();
    assert_eq!(
        error.to_string(),
        "\"ftp://example.com/events\" is not an endpoint address: the scheme is not http or https"
    );
    assert!(HttpSender::new("not a url").is_err());
    let error = HttpSender::new("http://example.com/")
        .unwrap()
        .header("x-token", "line\nbreak")
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("header \"x-token\" cannot be sent: "),
        "{error}"
    );
}
