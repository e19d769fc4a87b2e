//! CloudEvents between this crate and the official SDKs other teams use:
//! Python's `cloudevents` 2.2.0 (its `cloudevents.core` API and the 1.x API
//! it keeps as `cloudevents.v1`) and JavaScript's `cloudevents` 10.0.0.
//!
//! Each case of `tests/interop/cases.json` is written by each SDK over HTTP
//! and over Kafka, in binary and in structured mode, and read here; and
//! written here the same four ways and read by each SDK. Every reading is
//! compared with the case, attribute by attribute and the data. A difference
//! is either one of the [`SDK_FAULTS`] below (each one seen in this run, so
//! that the list stays true), where the SDK departs from the specification
//! or makes a choice the specification leaves open otherwise than this
//! crate, or a failure.
//!
//! The SDKs run as programs (`tests/interop/python_sdk.py` and
//! `js_sdk.mjs`), installed into `target/interop` by
//! `scripts/interop-sdks.sh`, which `scripts/test-all.sh` sources. Without
//! them the test is skipped, except under CI, where it fails.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::DateTime;
use http::{HeaderMap, HeaderName, HeaderValue};
use integration_automation_patterns::Envelope;
use integration_automation_patterns::envelope::{Binding, ContentMode, RawJson};
use integration_automation_patterns::state::Pending;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One event to exchange: its attributes in the JSON format, and its data.
#[derive(Deserialize)]
struct Case {
    name: String,
    event: Map<String, Value>,
    data: Option<Data>,
}

/// An event's data, in the form it takes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Data {
    /// A JSON value, as its text (so that no number is rounded here).
    Json(Box<RawValue>),
    /// Text.
    Text(String),
    /// Bytes, in base64.
    Base64(String),
}

/// A message as a writer made it.
#[derive(Serialize, Deserialize)]
struct Message {
    case: String,
    producer: String,
    binding: String,
    mode: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    body_base64: String,
    /// Why the writer could not write the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A message as a reader read it.
#[derive(Deserialize)]
struct Reading {
    case: String,
    producer: String,
    reader: String,
    binding: String,
    mode: String,
    #[serde(default)]
    event: Map<String, Value>,
    data: Option<Data>,
    /// Why the reader refused the message.
    #[serde(default)]
    error: Option<String>,
}

/// Which side of an exchange an SDK fault is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The SDK writes the message.
    Writes,
    /// The SDK reads the message.
    Reads,
    /// Either: the SDK gets it wrong both ways.
    Either,
}

/// Whose choice a difference is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The SDK departs from the specification (a MUST of a binding, the JSON
    /// format, or a type's string form), and this crate follows it.
    Departs,
    /// The specification leaves a choice (what an empty body means, how many
    /// digits a number keeps, which offset shows a time, how data is handed
    /// to the caller), and the SDK chose otherwise than this crate.
    Choice,
}

/// A difference an SDK makes in this exchange, and why.
struct SdkFault {
    kind: Kind,
    sdks: &'static [&'static str],
    role: Role,
    /// `http` or `kafka`, or `*` for both.
    binding: &'static str,
    /// `binary` or `structured`, or `*` for both.
    mode: &'static str,
    /// The cases it shows in; empty for any.
    cases: &'static [&'static str],
    /// The attributes that differ: `data`, `write` (the SDK could not write
    /// the case) or `read` (the reader refused the message) among them.
    attributes: &'static [&'static str],
    /// What the SDK does, and what the specification says.
    why: &'static str,
}

const PYTHON: &[&str] = &["python-core", "python-v1"];
const HEADER_TEXT: &[&str] = &["subject-non-ascii", "ext-non-ascii", "ext-space-percent"];
const TEXT_DATA: &[&str] = &["data-text-utf8", "data-text-xml"];
const EMPTY_DATA: &[&str] = &["data-text-empty", "data-binary-empty"];
const BOOLEANS: &[&str] = &["flag", "flagtrue", "flagfalse"];

/// Every difference this exchange shows between a case and what came out,
/// each the SDK's.
const SDK_FAULTS: &[SdkFault] = &[
    // Both SDKs.
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js", "python-v1"],
        role: Role::Reads,
        binding: "http",
        mode: "binary",
        cases: &[
            "subject-non-ascii",
            "ext-non-ascii",
            "ext-space-percent",
            "ext-quoted",
        ],
        attributes: &["subject", "name", "city", "promo", "greeting"],
        why: "HTTP header values are not percent-decoded (HTTP binding 3.1.3.2): \
              `Zoë` reads as `Zo%C3%AB`, `\"hello\"` as `%22hello%22`",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js", "python-v1"],
        role: Role::Writes,
        binding: "http",
        mode: "binary",
        cases: HEADER_TEXT,
        attributes: &["read"],
        why: "HTTP header values are not percent-encoded (HTTP binding 3.1.3.2): \
              non-ASCII goes out raw and `50% off` as a bad escape, which this crate \
              refuses, naming the header",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: PYTHON,
        role: Role::Writes,
        binding: "*",
        mode: "binary",
        cases: &["all-attributes", "ext-boolean"],
        attributes: BOOLEANS,
        why: "a boolean extension goes out in Python's spelling, `True`, where the \
              CloudEvents string form of a Boolean is `true`",
    },
    SdkFault {
        kind: Kind::Choice,
        sdks: PYTHON,
        role: Role::Either,
        binding: "*",
        mode: "*",
        cases: &["data-json-null"],
        attributes: &["data"],
        why: "JSON `null` data and no data are both `None`: `\"data\": null` reads and \
              goes out as no data",
    },
    // Python's `cloudevents.core`.
    SdkFault {
        kind: Kind::Choice,
        sdks: &["python-core"],
        role: Role::Reads,
        binding: "*",
        mode: "binary",
        cases: EMPTY_DATA,
        attributes: &["data"],
        why: "an empty body is no data whatever its content type, so empty text and \
              empty bytes arrive as none (the bindings do not say; this crate reads an \
              empty body as empty data under a type that is not JSON, and as none \
              under JSON or no type)",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["python-core"],
        role: Role::Writes,
        binding: "*",
        mode: "binary",
        cases: &["data-json-array", "data-json-string", "data-json-true"],
        attributes: &["read"],
        why: "JSON data other than objects and numbers goes out as Python's repr \
              (`[1, 'two']`, `True`, a string unquoted) under a JSON content type: no \
              JSON, refused",
    },
    // Python's 1.x API.
    SdkFault {
        kind: Kind::Choice,
        sdks: &["python-v1"],
        role: Role::Reads,
        binding: "http",
        mode: "*",
        cases: EMPTY_DATA,
        attributes: &["data"],
        why: "empty text and empty bytes read as no data, in either mode",
    },
    SdkFault {
        kind: Kind::Choice,
        sdks: &["python-v1"],
        role: Role::Reads,
        binding: "http",
        mode: "binary",
        cases: TEXT_DATA,
        attributes: &["data"],
        why: "a body that is not JSON is handed back as bytes, text included",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["python-v1"],
        role: Role::Reads,
        binding: "kafka",
        mode: "binary",
        cases: &[
            "data-text-utf8",
            "data-text-xml",
            "data-text-empty",
            "data-binary",
            "data-binary-empty",
            "no-data-with-datacontenttype",
            "no-data-without-datacontenttype",
            "required-only",
        ],
        attributes: &["read"],
        why: "every Kafka value is parsed as JSON whatever its content type: text, \
              bytes and empty values fail",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["python-v1"],
        role: Role::Reads,
        binding: "kafka",
        mode: "structured",
        cases: &[],
        attributes: &["datacontenttype"],
        why: "a structured record's headers are copied into the attributes: its \
              `content-type: application/cloudevents+json` becomes the datacontenttype",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["python-v1"],
        role: Role::Writes,
        binding: "*",
        mode: "binary",
        cases: &[
            "data-text-utf8",
            "data-text-xml",
            "data-text-empty",
            "no-data-with-datacontenttype",
        ],
        attributes: &["data"],
        why: "text data goes out JSON-encoded (`\"Gr\\u00fc...\"`, quotes and all), \
              not as it is, and on Kafka no data goes out as `null`",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["python-v1"],
        role: Role::Writes,
        binding: "kafka",
        mode: "structured",
        cases: &[],
        attributes: &["read"],
        why: "a structured record goes out under the data's content type, not \
              `application/cloudevents+json`, and without datacontenttype in the JSON: \
              a reader sees a binary record with no attributes",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["python-v1"],
        role: Role::Writes,
        binding: "kafka",
        mode: "binary",
        cases: &[
            "all-attributes",
            "ext-integer",
            "ext-integer-negative",
            "ext-integer-max",
            "ext-boolean",
            "data-binary",
            "data-binary-empty",
            "no-data-without-datacontenttype",
            "required-only",
        ],
        attributes: &["write"],
        why: "a binary record cannot be written with an integer or boolean extension, \
              bytes, or no datacontenttype (AttributeError, DataMarshallerError, KeyError)",
    },
    // JavaScript.
    SdkFault {
        kind: Kind::Choice,
        sdks: &["js"],
        role: Role::Either,
        binding: "*",
        mode: "*",
        cases: &["time-offset"],
        attributes: &["time"],
        why: "every time is re-rendered in UTC: `09:30:00.123+02:00` becomes \
              `07:30:00.123Z`, the same instant under another offset",
    },
    SdkFault {
        kind: Kind::Choice,
        sdks: &["js"],
        role: Role::Either,
        binding: "*",
        mode: "*",
        cases: &["data-json-bigint"],
        attributes: &["data"],
        why: "JSON numbers are JavaScript numbers (RFC 8259 lets a reader limit their \
              precision): 12345678901234567890123 becomes 1.2345678901234568e+22 \
              (CE_USE_BIG_INT swaps the process's JSON for json-bigint, which then \
              fails on exponents)",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js"],
        role: Role::Reads,
        binding: "http",
        mode: "binary",
        cases: &["data-json-number", "data-json-null", "data-json-true"],
        attributes: &["data"],
        why: "a JSON body that does not start with `{`, `[` or `\"` reads as a string: \
              `42` under application/json as \"42\"",
    },
    SdkFault {
        kind: Kind::Choice,
        sdks: &["js"],
        role: Role::Reads,
        binding: "http",
        mode: "binary",
        cases: &[
            "data-binary-empty",
            "no-data-with-datacontenttype",
            "no-data-without-datacontenttype",
            "required-only",
        ],
        attributes: &["data"],
        why: "an empty body reads as the text \"\" whatever its content type, even \
              under none",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js"],
        role: Role::Reads,
        binding: "http",
        mode: "structured",
        cases: &["data-text-empty", "data-binary-empty", "data-json-null"],
        attributes: &["data"],
        why: "`\"data\": \"\"`, `\"data_base64\": \"\"` and `\"data\": null` read as no \
              data: members the JSON format gives are dropped",
    },
    SdkFault {
        kind: Kind::Choice,
        sdks: &["js"],
        role: Role::Reads,
        binding: "kafka",
        mode: "binary",
        cases: &[
            "data-text-utf8",
            "data-text-xml",
            "data-text-empty",
            "no-data-without-datacontenttype",
            "required-only",
        ],
        attributes: &["data"],
        why: "a Kafka value is handed back as bytes under a text type, and an empty \
              one as empty bytes even under none",
    },
    SdkFault {
        kind: Kind::Choice,
        sdks: &["js"],
        role: Role::Reads,
        binding: "kafka",
        mode: "binary",
        cases: &["no-data-with-datacontenttype"],
        attributes: &["read"],
        why: "an empty Kafka value under a JSON type is parsed, and fails",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js"],
        role: Role::Reads,
        binding: "kafka",
        mode: "structured",
        cases: &[],
        attributes: &["read"],
        why: "a structured record without `time` fails (`RangeError: Invalid time \
              value`): `time` is optional",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js"],
        role: Role::Writes,
        binding: "http",
        mode: "binary",
        cases: &["no-data-without-datacontenttype", "required-only"],
        attributes: &["datacontenttype"],
        why: "an event without a content type goes out as \
              `application/json; charset=utf-8`: a datacontenttype it never had",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js"],
        role: Role::Writes,
        binding: "*",
        mode: "binary",
        cases: &["data-json-string"],
        attributes: &["read"],
        why: "JSON string data goes out unquoted (`hello Zoë` under \
              application/json): no JSON, refused",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js"],
        role: Role::Writes,
        binding: "kafka",
        mode: "binary",
        cases: &["data-json-null"],
        attributes: &["data"],
        why: "a Kafka value is the data unserialized: JSON `null` goes out as no value",
    },
    SdkFault {
        kind: Kind::Departs,
        sdks: &["js"],
        role: Role::Writes,
        binding: "*",
        mode: "structured",
        cases: &["data-binary-empty"],
        attributes: &["read"],
        why: "empty bytes go out as both `data_base64` and `data`, which the JSON \
              format forbids together: refused",
    },
];

/// Who wrote and who read a case, and how.
struct Exchange<'a> {
    case: &'a str,
    writer: &'a str,
    reader: &'a str,
    binding: &'a str,
    mode: &'a str,
}

/// One difference between a case and a reading of it.
#[derive(Debug)]
struct Difference {
    case: String,
    writer: String,
    reader: String,
    binding: String,
    mode: String,
    attribute: String,
    expected: String,
    found: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} ({} {}), case {}: {} expected {}, found {}",
            self.writer,
            self.reader,
            self.binding,
            self.mode,
            self.case,
            self.attribute,
            self.expected,
            self.found
        )
    }
}

impl SdkFault {
    /// Whether this fault explains `difference`.
    fn explains(&self, difference: &Difference) -> bool {
        let is_sdk = |name: &String| self.sdks.contains(&name.as_str());
        let sdk = match self.role {
            Role::Writes => is_sdk(&difference.writer),
            Role::Reads => is_sdk(&difference.reader),
            Role::Either => is_sdk(&difference.writer) || is_sdk(&difference.reader),
        };
        sdk && (self.binding == "*" || self.binding == difference.binding)
            && (self.mode == "*" || self.mode == difference.mode)
            && (self.cases.is_empty() || self.cases.contains(&difference.case.as_str()))
            && self.attributes.contains(&difference.attribute.as_str())
    }
}

/// The attributes every event has or may have; any other is an extension.
const CONTEXT_ATTRIBUTES: [&str; 8] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
];

/// The SDKs, as programs to run.
struct Sdks {
    python: PathBuf,
    node_path: PathBuf,
    dir: PathBuf,
}

impl Sdks {
    /// The installed SDKs, or `None` (with a note) where they are not.
    fn installed() -> Option<Sdks> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
        match (
            std::env::var_os("IAP_INTEROP_PYTHON"),
            std::env::var_os("IAP_INTEROP_NODE_PATH"),
        ) {
            (Some(python), Some(node_path)) => Some(Sdks {
                python: python.into(),
                node_path: node_path.into(),
                dir,
            }),
            _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                panic!("IAP_INTEROP_PYTHON is not set: the SDK interop test cannot run under CI")
            }
            _ => {
                eprintln!(
                    "skipping the SDK interop test: source scripts/interop-sdks.sh to run it"
                );
                None
            }
        }
    }

    /// Runs one SDK's program with `command`, `input` on its standard input,
    /// and returns its lines of JSON.
    fn run<T: for<'de> Deserialize<'de>>(&self, sdk: &str, args: &[&str], input: &str) -> Vec<T> {
        let mut command = match sdk {
            "python" => {
                let mut command = Command::new(&self.python);
                command.arg(self.dir.join("python_sdk.py"));
                command
            }
            _ => {
                let mut command = Command::new("node");
                command
                    .arg(self.dir.join("js_sdk.mjs"))
                    .env("IAP_INTEROP_NODE_PATH", &self.node_path);
                command
            }
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start the {sdk} SDK's program: {error}"));
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_owned();
        let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(
            output.status.success(),
            "the {sdk} SDK's program failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("{sdk} wrote {line:?}: {error}"))
            })
            .collect()
    }
}

/// JSON text with insignificant spaces removed, members sorted and strings
/// in one escaping, but numbers exactly as written.
fn canonical(json: &RawValue) -> String {
    let text = json.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text).unwrap();
            let members: Vec<String> = members
                .iter()
                .map(|(name, value)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(name).unwrap(),
                        canonical(value)
                    )
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Some(b'[') => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(text).unwrap();
            let items: Vec<String> = items.iter().map(|item| canonical(item)).collect();
            format!("[{}]", items.join(","))
        }
        Some(b'"') => {
            serde_json::to_string(&serde_json::from_str::<String>(text).unwrap()).unwrap()
        }
        _ => text.to_owned(),
    }
}

/// Whether two data are the same: JSON by its canonical text (a JSON string
/// is the same as text with its value, which a reader without a JSON
/// content type cannot tell apart), bytes by their bytes.
fn same_data(expected: &Data, found: &Data) -> bool {
    let string = |json: &RawValue| serde_json::from_str::<String>(json.get()).ok();
    match (expected, found) {
        (Data::Json(a), Data::Json(b)) => canonical(a) == canonical(b),
        (Data::Json(json), Data::Text(text)) | (Data::Text(text), Data::Json(json)) => {
            string(json).as_ref() == Some(text)
        }
        (Data::Text(a), Data::Text(b)) => a == b,
        (Data::Base64(a), Data::Base64(b)) => BASE64.decode(a).ok() == BASE64.decode(b).ok(),
        _ => false,
    }
}

fn show_data(data: Option<&Data>) -> String {
    match data {
        None => "no data".into(),
        Some(Data::Json(json)) => format!("JSON {}", json.get()),
        Some(Data::Text(text)) => format!("text {text:?}"),
        Some(Data::Base64(base64)) => format!("bytes {base64}"),
    }
}

/// The differences between `case` and what a reader read of it, as
/// `(attribute, expected, found)`. Binary mode carries every extension as
/// text, so there an extension is compared by its string form; a case
/// without a time is not compared on time (writers add one).
fn compare(case: &Case, reading: &Reading) -> Vec<(String, String, String)> {
    let mut differences = Vec::new();
    if let Some(error) = &reading.error {
        differences.push(("read".into(), "the event".into(), error.clone()));
        return differences;
    }
    let binary = reading.mode == "binary";
    let as_text = |value: &Value| match value {
        Value::String(text) => Value::String(text.clone()),
        other => Value::String(other.to_string()),
    };
    let mut names: Vec<&String> = case.event.keys().chain(reading.event.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let expected = case.event.get(name);
        let found = reading.event.get(name);
        if name == "time" {
            if expected.is_none() {
                continue;
            }
            let time = |value: Option<&Value>| {
                value
                    .and_then(Value::as_str)
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .map(|time| (time, time.offset().local_minus_utc()))
            };
            if time(expected) != time(found) {
                differences.push((name.clone(), show(expected), show(found)));
            }
            continue;
        }
        let extension = !CONTEXT_ATTRIBUTES.contains(&name.as_str());
        let expected = match expected {
            Some(value) if binary && extension => Some(as_text(value)),
            other => other.cloned(),
        };
        if expected.as_ref() != found {
            differences.push((name.clone(), show(expected.as_ref()), show(found)));
        }
    }
    let same = match (&case.data, &reading.data) {
        (None, None) => true,
        (Some(expected), Some(found)) => same_data(expected, found),
        _ => false,
    };
    if !same {
        differences.push((
            "data".into(),
            show_data(case.data.as_ref()),
            show_data(reading.data.as_ref()),
        ));
    }
    differences
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".into(), Value::to_string)
}

/// A case as the JSON text of a received event, its data as written.
fn case_event(case: &Case) -> String {
    let attributes = serde_json::to_string(&case.event).unwrap();
    let data = match &case.data {
        None => return attributes,
        Some(Data::Json(json)) => format!("\"data\":{}", json.get()),
        Some(Data::Text(text)) => format!("\"data\":{}", serde_json::to_string(text).unwrap()),
        Some(Data::Base64(base64)) => format!("\"data_base64\":\"{base64}\""),
    };
    format!("{},{data}}}", &attributes[..attributes.len() - 1])
}

/// What this crate reads of a message: the event in the JSON format, its
/// JSON data as written (read again as [`RawJson`]).
fn read_here(message: &Message) -> Reading {
    let body = BASE64.decode(&message.body_base64).unwrap();
    let read = |raw: bool| -> Result<(Value, Option<String>), String> {
        let headers = &message.headers;
        let event = match message.binding.as_str() {
            "http" => {
                let mut map = HeaderMap::new();
                for (name, value) in headers {
                    map.append(
                        HeaderName::try_from(name.as_str()).map_err(|e| e.to_string())?,
                        HeaderValue::from_bytes(value.as_bytes()).map_err(|e| e.to_string())?,
                    );
                }
                match raw {
                    true => Envelope::<Pending, RawJson>::from_http(&map, &body)
                        .map(|envelope| (Value::Null, Some(envelope.payload().to_string()))),
                    false => Envelope::<Pending>::from_http(&map, &body).map(|envelope| {
                        (
                            serde_json::to_value(envelope.to_cloudevent()).unwrap(),
                            None,
                        )
                    }),
                }
            }
            _ => {
                let key = message.key.as_deref().map(str::as_bytes);
                match raw {
                    true => Envelope::<Pending, RawJson>::from_kafka(key, headers, &body)
                        .map(|envelope| (Value::Null, Some(envelope.payload().to_string()))),
                    false => Envelope::<Pending>::from_kafka(key, headers, &body).map(|envelope| {
                        (
                            serde_json::to_value(envelope.to_cloudevent()).unwrap(),
                            None,
                        )
                    }),
                }
            }
        };
        event.map_err(|error| error.to_string())
    };
    let mut reading = Reading {
        case: message.case.clone(),
        producer: message.producer.clone(),
        reader: "rust".into(),
        binding: message.binding.clone(),
        mode: message.mode.clone(),
        event: Map::new(),
        data: None,
        error: None,
    };
    let mut event = match read(false) {
        Ok((Value::Object(event), _)) => event,
        Ok((other, _)) => panic!("an event is written as a JSON object, not {other}"),
        Err(error) => {
            reading.error = Some(error);
            return reading;
        }
    };
    let json_type = event
        .get("datacontenttype")
        .and_then(Value::as_str)
        .is_none_or(|content_type| content_type.contains("json"));
    reading.data = match (event.remove("data"), event.remove("data_base64")) {
        (None, Some(Value::String(base64))) => Some(Data::Base64(base64)),
        (Some(Value::String(text)), None) if !json_type => Some(Data::Text(text)),
        (Some(_), None) => {
            let (_, text) = read(true).unwrap();
            Some(Data::Json(RawValue::from_string(text.unwrap()).unwrap()))
        }
        (None, None) => None,
        (data, data_base64) => panic!("this crate wrote data {data:?} and {data_base64:?}"),
    };
    reading.event = event;
    reading
}

/// The messages this crate writes of `envelope` for `case`: HTTP as the
/// `HttpSender` writes it (structured where binary mode cannot carry the
/// event), and Kafka's binary record and its structured one.
fn written_here<P: Serialize>(case: &str, envelope: &Envelope<Pending, P>) -> Vec<Message> {
    let message = |binding: &str, mode: &str, headers, key, body: &[u8]| Message {
        case: case.into(),
        producer: "rust".into(),
        binding: binding.into(),
        mode: mode.into(),
        headers,
        key,
        body_base64: BASE64.encode(body),
        error: None,
    };
    let http = |mode: ContentMode| {
        let (headers, body) = envelope.to_http(mode).unwrap();
        let headers = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        let mode = match mode {
            ContentMode::Binary => "binary",
            ContentMode::Structured => "structured",
        };
        message("http", mode, headers, None, &body)
    };
    let structured = serde_json::to_vec(&envelope.to_cloudevent()).unwrap();
    // Every case fits binary mode; one that did not would go structured.
    assert!(envelope.fits_binary_mode(), "case {case}");
    let mut messages = vec![http(ContentMode::Structured)];
    messages.push(message(
        "kafka",
        "structured",
        vec![("content-type".into(), "application/cloudevents+json".into())],
        envelope.ordering_key().map(str::to_owned),
        &structured,
    ));
    messages.push(http(ContentMode::Binary));
    let record = envelope.to_binary(Binding::Kafka).unwrap();
    messages.push(message(
        "kafka",
        "binary",
        record.headers,
        record.key,
        &record.body,
    ));
    messages
}

#[test]
fn events_cross_between_this_crate_and_the_python_and_javascript_sdks() {
    let Some(sdks) = Sdks::installed() else {
        return;
    };
    let cases: Vec<Case> =
        serde_json::from_str(&std::fs::read_to_string(sdks.dir.join("cases.json")).unwrap())
            .unwrap();
    let case = |name: &str| cases.iter().find(|case| case.name == name).unwrap();
    let cases_path = sdks.dir.join("cases.json");
    let cases_path = cases_path.to_str().unwrap();
    let mut differences = Vec::new();
    let mut checks = 0;
    let mut record = |exchange: Exchange<'_>, found: Vec<(String, String, String)>| {
        checks += 1;
        for (attribute, expected, found) in found {
            differences.push(Difference {
                case: exchange.case.to_owned(),
                writer: exchange.writer.to_owned(),
                reader: exchange.reader.to_owned(),
                binding: exchange.binding.to_owned(),
                mode: exchange.mode.to_owned(),
                attribute,
                expected,
                found,
            });
        }
    };

    // The SDKs write; this crate reads.
    for sdk in ["python", "js"] {
        for message in sdks.run::<Message>(sdk, &["write", cases_path], "") {
            let found = match &message.error {
                Some(error) => vec![("write".into(), "a message".into(), error.clone())],
                None => compare(case(&message.case), &read_here(&message)),
            };
            let exchange = Exchange {
                case: &message.case,
                writer: &message.producer,
                reader: "rust",
                binding: &message.binding,
                mode: &message.mode,
            };
            record(exchange, found);
        }
    }

    // This crate writes; the SDKs read.
    let mut ours = String::new();
    for case in &cases {
        let event = case_event(case);
        let messages = match Envelope::<Pending, RawJson>::from_json(event.as_bytes()) {
            Ok(envelope) => written_here(&case.name, &envelope),
            // Bytes are no JSON text: a `Value` holds them as base64.
            Err(_) => written_here(
                &case.name,
                &Envelope::<Pending>::from_json(event.as_bytes())
                    .unwrap_or_else(|error| panic!("case {}: {error}", case.name)),
            ),
        };
        for message in messages {
            ours.push_str(&serde_json::to_string(&message).unwrap());
            ours.push('\n');
        }
    }
    for sdk in ["python", "js"] {
        for reading in sdks.run::<Reading>(sdk, &["read"], &ours) {
            let exchange = Exchange {
                case: &reading.case,
                writer: &reading.producer,
                reader: &reading.reader,
                binding: &reading.binding,
                mode: &reading.mode,
            };
            record(exchange, compare(case(&reading.case), &reading));
        }
    }

    let unexplained: Vec<&Difference> = differences
        .iter()
        .filter(|difference| !SDK_FAULTS.iter().any(|fault| fault.explains(difference)))
        .collect();
    let unseen: Vec<&str> = SDK_FAULTS
        .iter()
        .filter(|fault| {
            !differences
                .iter()
                .any(|difference| fault.explains(difference))
        })
        .map(|fault| fault.why)
        .collect();
    // Per case: three writers (Python's two APIs, JavaScript) to this
    // crate's reader, and this crate's writer to three readers, four ways.
    assert_eq!(checks, cases.len() * 2 * 3 * 4, "a reading went missing");
    let departs = differences
        .iter()
        .filter(|difference| {
            SDK_FAULTS
                .iter()
                .any(|fault| fault.kind == Kind::Departs && fault.explains(difference))
        })
        .count();
    eprintln!(
        "{checks} readings, {} differences: {departs} where an SDK departs from the \
         specification, the others an SDK's choice where it leaves one",
        differences.len()
    );
    assert!(
        unexplained.is_empty(),
        "{} differences that no SDK fault explains:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .map(|difference| difference.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        unseen.is_empty(),
        "SDK faults not seen in this run (fixed? then take them off the list):\n{}",
        unseen.join("\n")
    );
}
