//! The typed builder of a new envelope.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

use super::attributes::{
    DataForm, ExtensionValue, Extensions, PARTITIONKEY, TRACEPARENT, TRACESTATE,
    check_content_type, check_extension,
};
use super::error::{EnvelopeError, Field, check_key_length, check_text};
use super::state::Pending;
use super::uri::{check_absolute_uri, check_uri_reference};
use super::{Envelope, EnvelopeData};
use crate::retry::RetryPolicy;
use crate::slot::{Given, IsSet, IsUnset, Unset};

/// The schema version of an envelope that names none, as in the reference package.
pub(crate) const DEFAULT_SCHEMA_VERSION: &str = "1.0";

/// The payload's media type when the builder is told none.
const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// Markers naming the required parts of an [`EnvelopeBuilder`], as they appear
/// in compiler errors.
#[allow(non_camel_case_types)]
pub mod field {
    /// The event id (its idempotency key).
    #[derive(Debug)]
    pub enum event_id {}
    /// The event type.
    #[derive(Debug)]
    pub enum event_type {}
    /// The source system.
    #[derive(Debug)]
    pub enum source_system {}
    /// The payload.
    #[derive(Debug)]
    pub enum payload {}
}

impl Envelope<Pending> {
    /// Starts building a new, `Pending` envelope.
    ///
    /// `event_id`, `event_type`, `source_system` and `payload` are required,
    /// each exactly once: `build` does not exist until all four are set, and a
    /// setter does not exist once its part is set. The payload may be of any
    /// type; it is `serde_json::Value` unless you pass another.
    ///
    /// ```
    /// use integration_automation_patterns::{Envelope, RetryPolicy};
    /// use serde_json::json;
    ///
    /// let envelope = Envelope::builder()
    ///     .event_id("evt-0001")
    ///     .event_type("crm.contact.updated")
    ///     .source_system("crm")
    ///     .payload(json!({ "contact_id": 42 }))
    ///     .correlation_id("req-7")
    ///     .tag("region", "emea")
    ///     .retry_policy(RetryPolicy::default())
    ///     .build()?;
    /// assert_eq!(envelope.attempt_count(), 0);
    /// # Ok::<(), integration_automation_patterns::EnvelopeError>(())
    /// ```
    ///
    /// Forgetting a required part is a compile error that names it:
    ///
    /// ```compile_fail,E0277
    /// # use integration_automation_patterns::Envelope;
    /// let envelope = Envelope::builder()
    ///     .event_id("evt-0001")
    ///     .event_type("crm.contact.updated")
    ///     .payload(serde_json::json!({}))
    ///     .build(); // error: this builder is missing `source_system`
    /// ```
    #[inline]
    pub fn builder() -> EnvelopeBuilder {
        EnvelopeBuilder {
            event_id: Unset,
            event_type: Unset,
            source_system: Unset,
            payload: Unset,
            optional: OptionalParts::default(),
        }
    }
}

/// Builds an [`Envelope<Pending>`](Envelope); see [`Envelope::builder`].
///
/// The four type parameters are the slots of the required parts, in order
/// `event_id`, `event_type`, `source_system`, `payload`: each is
/// [`Unset`] until its setter is called. Every setter consumes the builder and
/// returns one of a new type.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct EnvelopeBuilder<I = Unset, T = Unset, S = Unset, D = Unset> {
    event_id: I,
    event_type: T,
    source_system: S,
    payload: D,
    optional: OptionalParts,
}

/// The parts of an envelope that have defaults.
#[derive(Clone, Debug, Default)]
struct OptionalParts {
    correlation_id: Option<String>,
    schema_version: Option<String>,
    created_at: Option<DateTime<FixedOffset>>,
    content_type: Option<String>,
    data_schema: Option<String>,
    subject: Option<String>,
    extensions: Extensions,
    retry_policy: RetryPolicy,
    tags: BTreeMap<String, String>,
}

impl<I, T, S, D> EnvelopeBuilder<I, T, S, D> {
    /// The globally unique id of the event, its idempotency key. Required.
    #[inline]
    pub fn event_id(self, event_id: impl Into<String>) -> EnvelopeBuilder<Given<String>, T, S, D>
    where
        I: IsUnset<field::event_id>,
    {
        EnvelopeBuilder {
            event_id: Given(event_id.into()),
            event_type: self.event_type,
            source_system: self.source_system,
            payload: self.payload,
            optional: self.optional,
        }
    }

    /// What happened, by convention `<domain>.<entity>.<action>`. Required.
    #[inline]
    pub fn event_type(
        self,
        event_type: impl Into<String>,
    ) -> EnvelopeBuilder<I, Given<String>, S, D>
    where
        T: IsUnset<field::event_type>,
    {
        EnvelopeBuilder {
            event_id: self.event_id,
            event_type: Given(event_type.into()),
            source_system: self.source_system,
            payload: self.payload,
            optional: self.optional,
        }
    }

    /// The system the event comes from (its CloudEvents `source`). Required:
    /// a URI reference, such as `crm`, `/crm/contacts` or
    /// `https://crm.example.com`, with no spaces.
    #[inline]
    pub fn source_system(
        self,
        source_system: impl Into<String>,
    ) -> EnvelopeBuilder<I, T, Given<String>, D>
    where
        S: IsUnset<field::source_system>,
    {
        EnvelopeBuilder {
            event_id: self.event_id,
            event_type: self.event_type,
            source_system: Given(source_system.into()),
            payload: self.payload,
            optional: self.optional,
        }
    }

    /// The business data. Required. Keep it small: ids and a change summary
    /// rather than whole records.
    #[inline]
    pub fn payload<P>(self, payload: P) -> EnvelopeBuilder<I, T, S, Given<P>>
    where
        D: IsUnset<field::payload>,
    {
        EnvelopeBuilder {
            event_id: self.event_id,
            event_type: self.event_type,
            source_system: self.source_system,
            payload: Given(payload),
            optional: self.optional,
        }
    }

    /// The workflow, request or transaction the event belongs to (default none).
    #[inline]
    pub fn correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.optional.correlation_id = Some(correlation_id.into());
        self
    }

    /// The version of the payload's schema (default `"1.0"`).
    #[inline]
    pub fn schema_version(mut self, schema_version: impl Into<String>) -> Self {
        self.optional.schema_version = Some(schema_version.into());
        self
    }

    /// When the event was created (default: the time `build` is called), in
    /// any time zone: the event's `time` is written with its UTC offset.
    #[inline]
    pub fn created_at<Tz: TimeZone>(mut self, created_at: DateTime<Tz>) -> Self {
        self.optional.created_at = Some(created_at.fixed_offset());
        self
    }

    /// The payload's media type, CloudEvents `datacontenttype` (default
    /// `application/json`). It decides how the payload travels: a JSON type
    /// (`*/json`, `*/*+json`) as a JSON value; `text/*` and XML types as a
    /// string (the payload must serialize to one); any other type as binary
    /// data (the payload must serialize to bytes, a `Vec<u8>` say), base64 in
    /// JSON and the raw body in binary content mode.
    #[inline]
    pub fn data_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.optional.content_type = Some(content_type.into());
        self
    }

    /// The URI of the schema the payload follows, CloudEvents `dataschema`
    /// (default none).
    #[inline]
    pub fn data_schema(mut self, data_schema: impl Into<String>) -> Self {
        self.optional.data_schema = Some(data_schema.into());
        self
    }

    /// What the event is about within its source, CloudEvents `subject`
    /// (default none).
    #[inline]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.optional.subject = Some(subject.into());
        self
    }

    /// Adds a CloudEvents extension attribute (a string, an integer or a
    /// boolean); a later one with the same name replaces the earlier one.
    /// `build` refuses a name that is not lowercase ASCII letters and digits,
    /// or that the event uses for something else.
    #[inline]
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        self.optional.extensions.insert(name.into(), value.into());
        self
    }

    /// The W3C trace parent of the distributed-tracing extension
    /// (`00-<trace id>-<parent id>-<flags>`); `build` checks its format.
    #[inline]
    pub fn traceparent(self, traceparent: impl Into<String>) -> Self {
        self.extension(TRACEPARENT, traceparent.into())
    }

    /// The W3C trace state of the distributed-tracing extension
    /// (`vendor=value,...`); `build` checks its format.
    #[inline]
    pub fn tracestate(self, tracestate: impl Into<String>) -> Self {
        self.extension(TRACESTATE, tracestate.into())
    }

    /// The ordering key: a relay sends the envelopes of one key in the order
    /// they were enqueued, one at a time (see the store's docs). It travels
    /// as the CloudEvents partitioning extension's `partitionkey`; `build`
    /// refuses an empty key or one with a control character.
    #[inline]
    pub fn ordering_key(self, key: impl Into<String>) -> Self {
        self.extension(PARTITIONKEY, key.into())
    }

    /// The retry budget and backoff (default [`RetryPolicy::default`]).
    #[inline]
    pub fn retry_policy(mut self, retry_policy: RetryPolicy) -> Self {
        self.optional.retry_policy = retry_policy;
        self
    }

    /// Adds a tag; a later tag with the same key replaces the earlier one.
    #[inline]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.optional.tags.insert(key.into(), value.into());
        self
    }

    /// The `Pending` envelope, or the first part that is refused: a text part
    /// that is empty or holds a control character (ids, type, source,
    /// correlation id, schema version, subject, data schema, tag keys), a
    /// content type that is no media type, an invalid extension name, or a
    /// trace context not in the W3C format.
    #[inline]
    pub fn build(self) -> Result<Envelope<Pending, D::Value>, EnvelopeError>
    where
        I: IsSet<field::event_id, Value = String>,
        T: IsSet<field::event_type, Value = String>,
        S: IsSet<field::source_system, Value = String>,
        D: IsSet<field::payload>,
    {
        let event_id = self.event_id.into_value();
        let event_type = self.event_type.into_value();
        let source_system = self.source_system.into_value();
        let optional = self.optional;
        check_text(Field::EventId, &event_id)?;
        check_text(Field::EventType, &event_type)?;
        check_text(Field::SourceSystem, &source_system)?;
        check_uri_reference(Field::SourceSystem, &source_system)?;
        check_key_length(Field::EventId, &event_id)?;
        check_key_length(Field::SourceSystem, &source_system)?;
        let schema_version = match optional.schema_version {
            Some(schema_version) => {
                check_text(Field::SchemaVersion, &schema_version)?;
                Cow::Owned(schema_version)
            }
            None => Cow::Borrowed(DEFAULT_SCHEMA_VERSION),
        };
        if let Some(correlation_id) = &optional.correlation_id {
            check_text(Field::CorrelationId, correlation_id)?;
        }
        if let Some(subject) = &optional.subject {
            check_text(Field::Subject, subject)?;
        }
        if let Some(data_schema) = &optional.data_schema {
            check_text(Field::DataSchema, data_schema)?;
            check_absolute_uri(Field::DataSchema, data_schema)?;
        }
        let (content_type, data_form) = match optional.content_type {
            Some(content_type) => {
                check_content_type(&content_type)?;
                let data_form = DataForm::for_content_type(Some(&content_type));
                (Cow::Owned(content_type), data_form)
            }
            // A JSON type, as a test of this module checks.
            None => (Cow::Borrowed(DEFAULT_CONTENT_TYPE), DataForm::Json),
        };
        for (name, value) in &optional.extensions {
            check_extension(name, value)?;
        }
        if let Some(ExtensionValue::Text(key)) = optional.extensions.get(PARTITIONKEY) {
            check_key_length(Field::OrderingKey, key)?;
        }
        for key in optional.tags.keys() {
            check_text(Field::TagKey, key)?;
        }
        Ok(Envelope::from_data(EnvelopeData {
            event_id,
            event_type,
            source_system,
            payload: self.payload.into_value(),
            data_form,
            content_type: Some(content_type),
            data_schema: optional.data_schema,
            subject: optional.subject,
            correlation_id: optional.correlation_id,
            schema_version: Some(schema_version),
            extensions: optional.extensions,
            created_at: Some(
                optional
                    .created_at
                    .unwrap_or_else(|| Utc::now().fixed_offset()),
            ),
            attempt_count: 0,
            retry_policy: optional.retry_policy,
            tags: optional.tags,
            history: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::attributes::check_content_type;

    /// `build` takes the default content type as a valid JSON type without
    /// checking it each time: this is the check.
    #[test]
    fn the_default_content_type_is_a_valid_json_type() {
        assert!(check_content_type(DEFAULT_CONTENT_TYPE).is_ok());
        assert_eq!(
            DataForm::for_content_type(Some(DEFAULT_CONTENT_TYPE)),
            DataForm::Json
        );
    }
}
