//! The audit line: one envelope, one line of `key=value` pairs for log pipelines.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

use super::Envelope;
use super::state::State;

impl<S: State, P> Envelope<S, P> {
    /// A structured log line for integration observability, in the reference
    /// package's format:
    ///
    /// ```text
    /// [INTEGRATION_EVENT] event_id=evt-1 type=crm.contact.updated source=crm status=pending attempts=0 correlation=none schema=1.0 created=2026-03-01T09:30:00+00:00
    /// ```
    ///
    /// `created` is written as Python's `isoformat()` writes it (fractional
    /// seconds only when there are some). Values are written as
    /// [`AuditLine::text`] writes them, so one envelope is always exactly one
    /// line and no value can forge another key. A correlation id that is
    /// literally `none` is quoted, to tell it from an absent one.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use integration_automation_patterns::Envelope;
    ///
    /// let envelope = Envelope::builder()
    ///     .event_id("evt 1 status=processed")
    ///     .event_type("crm.contact.updated")
    ///     .source_system("crm")
    ///     .payload(())
    ///     .created_at(Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap())
    ///     .build()?;
    /// assert_eq!(
    ///     envelope.to_audit_line(),
    ///     "[INTEGRATION_EVENT] event_id=\"evt 1 status=processed\" type=crm.contact.updated \
    ///      source=crm status=pending attempts=0 correlation=none schema=1.0 \
    ///      created=2026-03-01T09:30:00+00:00"
    /// );
    /// # Ok::<(), integration_automation_patterns::EnvelopeError>(())
    /// ```
    pub fn to_audit_line(&self) -> String {
        let data = &self.data;
        // The keys, the status, the count and the time take at most 160
        // bytes; the texts take their length unless they are quoted.
        let texts = data.event_id.len()
            + data.event_type.len()
            + data.source_system.len()
            + data.correlation_id.as_ref().map_or(0, String::len)
            + self.schema_version().len();
        let mut line = AuditLine::with_capacity("INTEGRATION_EVENT", 160 + texts)
            .text("event_id", &data.event_id)
            .text("type", &data.event_type)
            .text("source", &data.source_system)
            .word("status", S::STATUS.as_str())
            .count("attempts", data.attempt_count);
        line = match data.correlation_id.as_deref() {
            None => line.word("correlation", "none"),
            Some("none") => line.word("correlation", "\"none\""),
            Some(correlation_id) => line.text("correlation", correlation_id),
        };
        line = line.text("schema", self.schema_version());
        match self.created_at() {
            Some(created_at) => line.time("created", created_at),
            None => line.word("created", "none"),
        }
        .finish()
    }
}

/// A log line of `key=value` pairs behind a `[TAG]`, in the audit line's
/// format: for lines of your own that log pipelines should read like the
/// envelope's.
///
/// ```
/// use integration_automation_patterns::envelope::AuditLine;
///
/// let line = AuditLine::new("DEAD_LETTER")
///     .text("event_id", "evt-1")
///     .text("reason", "ledger locked")
///     .count("attempts", 3)
///     .finish();
/// assert_eq!(line, "[DEAD_LETTER] event_id=evt-1 reason=\"ledger locked\" attempts=3");
/// ```
#[derive(Clone, Debug)]
#[must_use = "an audit line does nothing until `finish` is called"]
pub struct AuditLine {
    line: String,
}

impl AuditLine {
    /// Starts a line with `[tag]`. A tag that would need quotes as a value
    /// would (or that holds a bracket) is written quoted: `["a tag"]`.
    #[inline]
    pub fn new(tag: &str) -> Self {
        AuditLine::with_capacity(tag, 192)
    }

    /// [`new`](Self::new), with room for `capacity` bytes.
    #[inline]
    fn with_capacity(tag: &str, capacity: usize) -> Self {
        let mut line = String::with_capacity(capacity);
        line.push('[');
        if needs_quotes(tag) || tag.bytes().any(|b| matches!(b, b'[' | b']')) {
            push_quoted(&mut line, tag);
        } else {
            line.push_str(tag);
        }
        line.push(']');
        AuditLine { line }
    }

    /// Writes ` key=`, the key quoted as a value would be if it needs it.
    #[inline]
    fn key(&mut self, key: &str) {
        self.line.push(' ');
        if needs_quotes(key) {
            push_quoted(&mut self.line, key);
        } else {
            self.line.push_str(key);
        }
        self.line.push('=');
    }

    /// Adds `key=value`. A value that is empty or contains white space, a
    /// quote, `=`, a control character, or an invisible one (a bidirectional
    /// control, a zero-width character, a line or paragraph separator) is
    /// written in double quotes, with `"` and `\` escaped by a backslash,
    /// `\n`, `\r` and `\t` as such, and any other control, white-space or
    /// invisible character but the space as `\u{hex}`: so no value can make
    /// the line look like another. Keys are written by the same rule.
    #[inline]
    pub fn text(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        if needs_quotes(value) {
            push_quoted(&mut self.line, value);
        } else {
            self.line.push_str(value);
        }
        self
    }

    /// `value` written as [`text`](Self::text) writes a value: as it is when
    /// it is safe, otherwise in double quotes with what could break or
    /// disguise the line escaped. For other one-line views of untrusted text
    /// (a table cell, say) that must show each value as one unambiguous
    /// piece, the way log pipelines see it in the audit line.
    ///
    /// ```
    /// use integration_automation_patterns::envelope::AuditLine;
    ///
    /// assert_eq!(AuditLine::value("order-1"), "order-1");
    /// assert_eq!(AuditLine::value("ledger locked"), "\"ledger locked\"");
    /// // A right-to-left override would show the rest of the text reversed.
    /// assert_eq!(AuditLine::value("invoice\u{202e}fdp.exe"), "\"invoice\\u{202e}fdp.exe\"");
    /// assert_eq!(AuditLine::value(""), "\"\"");
    /// ```
    pub fn value(value: &str) -> Cow<'_, str> {
        if needs_quotes(value) {
            let mut quoted = String::with_capacity(value.len() + 2);
            push_quoted(&mut quoted, value);
            Cow::Owned(quoted)
        } else {
            Cow::Borrowed(value)
        }
    }

    /// Adds `key=value` with `value` as it is, for values known to be safe
    /// (fixed words such as a status name).
    #[inline]
    pub fn word(mut self, key: &str, value: &'static str) -> Self {
        self.key(key);
        self.line.push_str(value);
        self
    }

    /// Adds `key=number`.
    #[inline]
    pub fn count(mut self, key: &str, value: u32) -> Self {
        self.key(key);
        push_u32(&mut self.line, value);
        self
    }

    /// Adds `key=time`, written as Python's `datetime.isoformat()` writes an
    /// aware UTC time: `+00:00`, and microseconds only when they are not zero.
    /// Nanoseconds, which Python cannot hold, are written in full when present.
    #[inline]
    pub fn time(mut self, key: &str, value: DateTime<Utc>) -> Self {
        self.key(key);
        push_isoformat(&mut self.line, value);
        self
    }

    /// The line.
    pub fn finish(self) -> String {
        self.line
    }
}

fn needs_quotes(value: &str) -> bool {
    // Fast path: printable ASCII other than space, quote and `=` is safe,
    // and most keys and values are made of nothing else. Eight bytes at a
    // time, each eight without an early exit, so that they are checked
    // together.
    let is_unsafe = |b: u8| (b <= b' ') | (b == b'"') | (b == b'=') | (b >= 0x7f);
    let mut chunks = value.as_bytes().chunks_exact(8);
    let plain = chunks.all(|chunk| !chunk.iter().fold(false, |found, &b| found | is_unsafe(b)))
        && !chunks.remainder().iter().any(|&b| is_unsafe(b));
    if plain {
        return value.is_empty();
    }
    value
        .chars()
        .any(|c| c == '"' || c == '=' || c.is_whitespace() || c.is_control() || is_invisible(c))
}

/// Characters that change how a line displays without showing themselves:
/// bidirectional controls and zero-width characters (line and paragraph
/// separators are white space, and quoted as such).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
    )
}

fn push_quoted(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    // Runs of characters that need no escape are copied whole.
    let mut run_start = 0;
    for (index, c) in value.char_indices() {
        // The escape's text, or `None` for `\u{hex}`.
        let escape = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            ' ' => continue,
            c if c.is_control() || c.is_whitespace() || is_invisible(c) => None,
            _ => continue,
        };
        out.push_str(&value[run_start..index]);
        match escape {
            Some(escape) => out.push_str(escape),
            None => {
                out.push_str("\\u{");
                push_hex(out, u32::from(c));
                out.push('}');
            }
        }
        run_start = index + c.len_utf8();
    }
    out.push_str(&value[run_start..]);
    out.push('"');
}

fn push_hex(out: &mut String, value: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in (0..8).rev() {
        let nibble = (value >> (shift * 4)) & 0xf;
        // At least four digits, as in `\u{000b}`.
        if nibble != 0 || started || shift < 4 {
            started = true;
            out.push(char::from(DIGITS[nibble as usize]));
        }
    }
}

/// The decimal digits of `value`, without leading zeros, as in `u32::to_string`.
fn push_u32(out: &mut String, value: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    push_ascii(out, &digits[start..]);
}

/// Writes `value` into `digits` as decimal, zero-padded to the slice's length.
fn fill_padded(digits: &mut [u8], value: u32) {
    let mut rest = value;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// Appends bytes known to be ASCII.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
}

fn push_isoformat(out: &mut String, time: DateTime<Utc>) {
    let time = time.naive_utc();
    let nanos = time.nanosecond();
    let year = time.year();
    // Years Python cannot write, and leap seconds: chrono writes them.
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        let precision = if nanos == 0 {
            SecondsFormat::Secs
        } else if nanos.is_multiple_of(1_000) {
            SecondsFormat::Micros
        } else {
            SecondsFormat::Nanos
        };
        out.push_str(&time.and_utc().to_rfc3339_opts(precision, false));
        return;
    }
    let mut text = *b"0000-00-00T00:00:00.000000000";
    fill_padded(&mut text[0..4], year.unsigned_abs());
    fill_padded(&mut text[5..7], time.month());
    fill_padded(&mut text[8..10], time.day());
    fill_padded(&mut text[11..13], time.hour());
    fill_padded(&mut text[14..16], time.minute());
    fill_padded(&mut text[17..19], time.second());
    let length = if nanos == 0 {
        19
    } else if nanos.is_multiple_of(1_000) {
        fill_padded(&mut text[20..26], nanos / 1_000);
        26
    } else {
        fill_padded(&mut text[20..29], nanos);
        29
    };
    push_ascii(out, &text[..length]);
    out.push_str("+00:00");
}
