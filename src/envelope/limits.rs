//! The limits a reader of received messages keeps: what a sender may make a
//! receiver read before it is refused.

use super::serde::FormatError;

/// How much of a received message is read before it is refused: the body's
/// size, the number of headers, and the number of members of a structured
/// event. Each reader runs in time linear in what it reads, so these bound
/// the time and memory one message can cost; a message past a limit is
/// refused with [`FormatError::Limit`](super::FormatError::Limit), which names
/// the limit.
///
/// The defaults suit events and webhooks: 2 MiB of body (axum's default
/// request limit), 128 headers (hyper's HTTP/1 default is 100), 256
/// members (an event has a dozen attributes and a few extensions) and 127
/// levels of nesting in JSON data (what `serde_json` reads into a `Value`).
///
/// ```
/// use integration_automation_patterns::Envelope;
/// use integration_automation_patterns::envelope::{Binding, FormatError, ReadLimits};
/// use integration_automation_patterns::state::Pending;
///
/// let limits = ReadLimits::default().body_bytes(16);
/// let headers = [("ce-specversion", "1.0"), ("ce-id", "e"), ("ce-source", "s"), ("ce-type", "t")];
/// let refused = Envelope::<Pending>::from_message_within(&limits, Binding::Http, &headers, &[b' '; 17]);
/// assert!(matches!(refused, Err(FormatError::Limit { what: "bytes of body", limit: 16, .. })));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadLimits {
    body_bytes: usize,
    headers: usize,
    members: usize,
    depth: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            body_bytes: 2 * 1024 * 1024,
            headers: 128,
            members: 256,
            depth: 127,
        }
    }
}

impl ReadLimits {
    /// At most `bytes` of body.
    #[must_use]
    pub fn body_bytes(mut self, bytes: usize) -> Self {
        self.body_bytes = bytes;
        self
    }

    /// At most `count` headers (of any name: a binding's own and others).
    #[must_use]
    pub fn headers(mut self, count: usize) -> Self {
        self.headers = count;
        self
    }

    /// At most `count` members in a structured event's JSON object
    /// (attributes, extensions and the data; not the members inside the
    /// data, which the body's size bounds).
    #[must_use]
    pub fn members(mut self, count: usize) -> Self {
        self.members = count;
        self
    }

    /// At most `levels` of arrays and objects nested in JSON data.
    #[must_use]
    pub fn depth(mut self, levels: usize) -> Self {
        self.depth = levels;
        self
    }

    /// The most bytes of body read.
    pub fn max_body_bytes(&self) -> usize {
        self.body_bytes
    }

    /// The most headers read.
    pub fn max_headers(&self) -> usize {
        self.headers
    }

    /// The most members of a structured event read.
    pub fn max_members(&self) -> usize {
        self.members
    }

    /// The most levels of nesting read in JSON data.
    pub fn max_depth(&self) -> usize {
        self.depth
    }

    /// Refuses JSON data nested deeper than [`max_depth`](Self::max_depth).
    pub(super) fn check_depth(&self, json: &str) -> Result<(), FormatError> {
        within(
            "levels of nesting in the data",
            json_depth(json),
            self.depth,
        )
    }

    /// Refuses a body past [`max_body_bytes`](Self::max_body_bytes).
    pub(super) fn check_body(&self, body: &[u8]) -> Result<(), FormatError> {
        within("bytes of body", body.len(), self.body_bytes)
    }

    /// Refuses more headers than [`max_headers`](Self::max_headers).
    pub(super) fn check_headers(&self, count: usize) -> Result<(), FormatError> {
        within("headers", count, self.headers)
    }
}

/// `Ok` if `count` of `what` is at most `limit`.
fn within(what: &'static str, count: usize, limit: usize) -> Result<(), FormatError> {
    match count <= limit {
        true => Ok(()),
        false => Err(FormatError::Limit { what, limit }),
    }
}

/// The deepest nesting of arrays and objects in JSON text (well formed), as
/// [`ReadLimits::depth`] bounds it: one pass over the bytes, strings
/// skipped. `[[1], {"a": []}]` is 3 deep.
///
/// ```
/// use integration_automation_patterns::envelope::json_depth;
///
/// assert_eq!(json_depth(r#"[[1], {"a": []}]"#), 3);
/// assert_eq!(json_depth(r#""[[[""#), 0);
/// ```
pub fn json_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::json_depth;

    #[test]
    fn the_depth_of_json_counts_arrays_and_objects_and_skips_strings() {
        assert_eq!(json_depth("1"), 0);
        assert_eq!(json_depth(r#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(json_depth(r#"["[[[{{{", "\"[[", "\\"]"#), 1);
        assert_eq!(json_depth(r#"[[],[[]],[]]"#), 3);
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(json_depth(&deep), 200);
    }
}
