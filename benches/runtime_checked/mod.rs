//! The baseline for `benches/lifecycle.rs`: the same envelope written the
//! ordinary way, as one struct with a status field that every transition
//! checks at run time. It stores and does the same work as the typed envelope
//! (history with times and reasons, the retry budget, the escaped audit line),
//! so the difference measured is the cost of the typestate alone.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use integration_automation_patterns::envelope::AuditLine;
use integration_automation_patterns::{DeliveryStatus, RetryPolicy};

pub struct Step {
    pub from: DeliveryStatus,
    pub to: DeliveryStatus,
    pub at: DateTime<Utc>,
    pub attempt: u32,
    pub reason: Option<String>,
}

pub struct RuntimeEnvelope {
    pub event_id: String,
    pub event_type: String,
    pub source_system: String,
    pub payload: serde_json::Value,
    pub correlation_id: Option<String>,
    pub schema_version: Cow<'static, str>,
    pub created_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub retry_policy: RetryPolicy,
    pub tags: BTreeMap<String, String>,
    pub history: Vec<Step>,
}

#[derive(Debug)]
pub struct Illegal;

impl RuntimeEnvelope {
    pub fn new(
        event_id: &str,
        event_type: &str,
        source_system: &str,
        payload: serde_json::Value,
        created_at: DateTime<Utc>,
    ) -> Result<Self, Illegal> {
        for text in [event_id, event_type, source_system] {
            if is_unusable(text) {
                return Err(Illegal);
            }
        }
        Ok(RuntimeEnvelope {
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            source_system: source_system.to_owned(),
            payload,
            correlation_id: None,
            schema_version: Cow::Borrowed("1.0"),
            created_at,
            status: DeliveryStatus::Pending,
            attempt_count: 0,
            retry_policy: RetryPolicy::default(),
            tags: BTreeMap::new(),
            history: Vec::new(),
        })
    }

    fn step(&mut self, to: DeliveryStatus, at: DateTime<Utc>, reason: Option<String>) {
        if self.history.is_empty() {
            self.history.reserve(6);
        }
        self.history.push(Step {
            from: self.status,
            to,
            at,
            attempt: self.attempt_count,
            reason,
        });
        self.status = to;
    }

    pub fn dispatch(&mut self, at: DateTime<Utc>) -> Result<(), Illegal> {
        match self.status {
            DeliveryStatus::Pending | DeliveryStatus::Retrying => {
                self.attempt_count = self.attempt_count.saturating_add(1);
                self.step(DeliveryStatus::Dispatched, at, None);
                Ok(())
            }
            _ => Err(Illegal),
        }
    }

    pub fn acknowledge(&mut self, at: DateTime<Utc>) -> Result<(), Illegal> {
        match self.status {
            DeliveryStatus::Dispatched => {
                self.step(DeliveryStatus::Acknowledged, at, None);
                Ok(())
            }
            _ => Err(Illegal),
        }
    }

    pub fn process(&mut self, at: DateTime<Utc>) -> Result<(), Illegal> {
        match self.status {
            DeliveryStatus::Dispatched | DeliveryStatus::Acknowledged => {
                self.step(DeliveryStatus::Processed, at, None);
                Ok(())
            }
            _ => Err(Illegal),
        }
    }

    pub fn fail(&mut self, reason: &str, at: DateTime<Utc>) -> Result<(), Illegal> {
        match self.status {
            DeliveryStatus::Dispatched | DeliveryStatus::Acknowledged => {
                let to = if self.retry_policy.is_exhausted(self.attempt_count) {
                    DeliveryStatus::Failed
                } else {
                    DeliveryStatus::Retrying
                };
                self.step(to, at, Some(reason.to_owned()));
                Ok(())
            }
            _ => Err(Illegal),
        }
    }

    /// The audit line, written with the crate's own `AuditLine` as the typed
    /// envelope writes it, so formatting costs the same on both sides.
    pub fn audit_line(&self) -> String {
        let line = AuditLine::new("INTEGRATION_EVENT")
            .text("event_id", &self.event_id)
            .text("type", &self.event_type)
            .text("source", &self.source_system)
            .word("status", self.status.as_str())
            .count("attempts", self.attempt_count);
        let line = match &self.correlation_id {
            None => line.word("correlation", "none"),
            Some(id) => line.text("correlation", id),
        };
        line.text("schema", &self.schema_version)
            .time("created", self.created_at)
            .finish()
    }
}

/// Empty, or holding a control character: the same rule and the same ASCII
/// fast path as the crate's builder.
fn is_unusable(text: &str) -> bool {
    text.is_empty()
        || (text
            .bytes()
            .fold(false, |found, b| found | !(b' '..0x7f).contains(&b))
            && text.chars().any(char::is_control))
}
