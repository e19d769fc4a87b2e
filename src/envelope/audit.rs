//! The audit line: one envelope, one line of `key=value` pairs for log pipelines.

use std::fmt::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};

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
    /// seconds only when there are some). A value that contains white space, a
    /// quote, `=` or a control character, or that is empty, is written in double
    /// quotes with `"`, `\` and control characters escaped, so one envelope is
    /// always exactly one line and no value can forge another key. A correlation
    /// id that is literally `none` is quoted too, to tell it from an absent one.
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
        let mut line = String::with_capacity(160);
        // Writing to a String cannot fail.
        let _ = self.write_audit_line(&mut line);
        line
    }

    fn write_audit_line(&self, out: &mut String) -> fmt::Result {
        out.push_str("[INTEGRATION_EVENT] event_id=");
        write_value(out, &self.event_id)?;
        out.push_str(" type=");
        write_value(out, &self.event_type)?;
        out.push_str(" source=");
        write_value(out, &self.source_system)?;
        write!(
            out,
            " status={} attempts={} correlation=",
            S::STATUS,
            self.attempt_count
        )?;
        match self.correlation_id.as_deref() {
            None => out.push_str("none"),
            Some("none") => out.push_str("\"none\""),
            Some(correlation_id) => write_value(out, correlation_id)?,
        }
        out.push_str(" schema=");
        write_value(out, &self.schema_version)?;
        out.push_str(" created=");
        out.push_str(&python_isoformat(self.created_at));
        Ok(())
    }
}

/// Writes `value` bare if it is safe to, else quoted and escaped.
fn write_value(out: &mut String, value: &str) -> fmt::Result {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c == '"' || c == '=' || c.is_whitespace() || c.is_control());
    if !needs_quotes {
        out.push_str(value);
        return Ok(());
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' => out.push(' '),
            c if c.is_control() || c.is_whitespace() => write!(out, "\\u{{{:04x}}}", u32::from(c))?,
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(())
}

/// `time` as Python's `datetime.isoformat()` writes an aware UTC time:
/// `+00:00`, and microseconds only when they are not zero. Nanoseconds, which
/// Python cannot hold, are written in full when present.
fn python_isoformat(time: DateTime<Utc>) -> String {
    let nanos = time.timestamp_subsec_nanos();
    let precision = if nanos == 0 {
        SecondsFormat::Secs
    } else if nanos.is_multiple_of(1_000) {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Nanos
    };
    time.to_rfc3339_opts(precision, false)
}
