//! Typed fields to and from the string-keyed [`Record`], [`Base`] and
//! [`Patch`]: JSON values through serde, each error naming its field.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::reconcile::{Base, Change, Decision, FieldDecision, Patch, Record, Versioned};

/// A typed record, base or patch that does not convert to or from its
/// string-keyed form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A synced field is absent, and its type has no value for JSON `null`.
    #[error(
        "field {field:?} is absent from the record, and its type needs a value; add the field to the record or make its type an `Option`"
    )]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field's JSON value does not read as the field's type.
    #[error("field {field:?} holds a JSON {found} that does not read as its type: {source}")]
    Mistyped {
        /// The field.
        field: &'static str,
        /// What the JSON value is (`string`, `number`…).
        found: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A field's value has no JSON form that reads back as it (a float that
    /// is not finite, a map whose keys are not text).
    #[error("field {field:?} has no JSON form that reads back as its value: {source}")]
    Unwritable {
        /// The field.
        field: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// A synced field of `record`: absent reads as `null`.
pub fn synced<T: DeserializeOwned>(record: &Record, field: &'static str) -> Result<T, RecordError> {
    match record.get(field) {
        Some(versioned) => read(field, &versioned.value),
        None => serde_json::from_value(Value::Null).map_err(|_| RecordError::Missing { field }),
    }
}

/// An excluded field of `record`: absent takes its `Default`.
pub fn excluded<T: DeserializeOwned + Default>(
    record: &Record,
    field: &'static str,
) -> Result<T, RecordError> {
    record
        .get(field)
        .map_or(Ok(T::default()), |versioned| read(field, &versioned.value))
}

/// When `record` says `field` last changed.
pub fn modified_at(record: &Record, field: &str) -> Option<DateTime<Utc>> {
    record
        .get(field)
        .and_then(|versioned| versioned.modified_at)
}

/// A field of a stored base: absent is never synced.
pub fn base_field<T: DeserializeOwned>(
    base: &Base,
    field: &'static str,
) -> Result<Option<T>, RecordError> {
    base.get(field).map(|value| read(field, value)).transpose()
}

/// `value` as JSON, refused if it would not read back: serde_json writes a
/// float that is not finite as `null`, which no float reads.
pub fn to_json<T: Serialize + DeserializeOwned>(
    field: &str,
    value: &T,
) -> Result<Value, RecordError> {
    let unwritable = |source| RecordError::Unwritable {
        field: field.to_owned(),
        source,
    };
    let json = serde_json::to_value(value).map_err(unwritable)?;
    if json.is_null() {
        T::deserialize(&json).map_err(unwritable)?;
    }
    Ok(json)
}

/// Adds `field` to `record`, as JSON, last changed at `modified_at`.
pub fn put<T: Serialize + DeserializeOwned>(
    record: &mut Record,
    field: &str,
    value: &T,
    modified_at: Option<DateTime<Utc>>,
) -> Result<(), RecordError> {
    let value = to_json(field, value)?;
    record.insert(field.to_owned(), Versioned { value, modified_at });
    Ok(())
}

/// Adds `field` to `base`, as JSON, if it was synced.
pub fn put_base<T: Serialize + DeserializeOwned>(
    base: &mut Base,
    field: &str,
    value: Option<&T>,
) -> Result<(), RecordError> {
    if let Some(value) = value {
        base.insert(field.to_owned(), to_json(field, value)?);
    }
    Ok(())
}

/// Adds `field` to `patch`, as JSON, if it changes.
pub fn put_change<T: Serialize + DeserializeOwned>(
    patch: &mut Patch,
    field: &str,
    value: Option<&T>,
) -> Result<(), RecordError> {
    if let Some(value) = value {
        patch.insert(field.to_owned(), Change::Set(to_json(field, value)?));
    }
    Ok(())
}

/// `decision` with its values as JSON.
pub(super) fn decision_to_json<V: Serialize + DeserializeOwned>(
    decision: &FieldDecision<V>,
) -> Result<FieldDecision, RecordError> {
    let field = &*decision.field;
    let json = |value: &V| to_json(field, value);
    let option = |value: &Option<V>| value.as_ref().map(json).transpose();
    let versioned = |versioned: &Option<Versioned<V>>| {
        versioned
            .as_ref()
            .map(|v| {
                Ok(Versioned {
                    value: json(&v.value)?,
                    modified_at: v.modified_at,
                })
            })
            .transpose()
    };
    Ok(FieldDecision {
        field: decision.field.clone(),
        authority: decision.authority,
        a: versioned(&decision.a)?,
        b: versioned(&decision.b)?,
        base: option(&decision.base)?,
        rule: decision.rule,
        decision: match &decision.decision {
            Decision::Nothing => Decision::Nothing,
            Decision::Converged { value } => Decision::Converged {
                value: option(value)?,
            },
            Decision::Propagate { to, value } => Decision::Propagate {
                to: *to,
                value: option(value)?,
            },
            Decision::Overwrite {
                winner,
                value,
                overwritten,
            } => Decision::Overwrite {
                winner: *winner,
                value: option(value)?,
                overwritten: option(overwritten)?,
            },
            Decision::Review { reason } => Decision::Review { reason: *reason },
        },
    })
}

fn read<T: DeserializeOwned>(field: &'static str, value: &Value) -> Result<T, RecordError> {
    T::deserialize(value).map_err(|source| RecordError::Mistyped {
        field,
        found: kind(value),
        source,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
