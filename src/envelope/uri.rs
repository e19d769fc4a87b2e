//! The URIs of an event: `source`, a URI reference, and `dataschema`, an
//! absolute URI, as RFC 3986 has them.

use super::error::{EnvelopeError, Field};

/// Checks that `value` is an absolute URI (`dataschema`): a URI reference
/// (see [`check_uri_reference`]) that starts with a scheme (`https:`, `urn:`).
pub(crate) fn check_absolute_uri(field: Field, value: &str) -> Result<(), EnvelopeError> {
    let refuse = |reason: String| EnvelopeError::NotAUri {
        field,
        value: value.to_owned(),
        reason,
    };
    match uri_reference_fault(value) {
        Some(reason) => Err(refuse(reason)),
        None if scheme(value).is_none() => {
            Err(refuse("it has no scheme (such as `https:`)".to_owned()))
        }
        None => Ok(()),
    }
}

/// Checks an absolute URI as rows stored before the rules of RFC 3986's
/// grammar were checked were held to: made of a URI's characters, and
/// starting with a scheme. What a store admitted then still reads.
pub(crate) fn check_stored_absolute_uri(field: Field, value: &str) -> Result<(), EnvelopeError> {
    let refuse = |reason: String| EnvelopeError::NotAUri {
        field,
        value: value.to_owned(),
        reason,
    };
    match characters_fault(value) {
        Some(reason) => Err(refuse(reason)),
        None if scheme(value).is_none_or(|scheme| scheme_fault(scheme).is_some()) => {
            Err(refuse("it has no scheme (such as `https:`)".to_owned()))
        }
        None => Ok(()),
    }
}

/// Checks that `value` is a URI reference (`source`): an absolute URI
/// (`https://crm.example.com/contacts`, `urn:crm`) or a relative one
/// (`/crm/contacts`, `crm`). Made of the characters of a URI (ASCII letters,
/// digits, `-._~:/?#[]@!$&'()*+,;=`, and `%` with two hex digits); a scheme,
/// if any, of a letter and then letters, digits, `+`, `-` or `.`; one `#` at
/// most; an authority (after `//`) of `[userinfo@]host[:port]`, the port in
/// digits, `[` and `]` only around an IP literal host.
pub(crate) fn check_uri_reference(field: Field, value: &str) -> Result<(), EnvelopeError> {
    uri_reference_fault(value).map_or(Ok(()), |reason| {
        Err(EnvelopeError::NotAUriReference {
            field,
            value: value.to_owned(),
            reason,
        })
    })
}

/// What keeps `value` from being a URI reference, if anything.
fn uri_reference_fault(value: &str) -> Option<String> {
    if let Some(fault) = characters_fault(value) {
        return Some(fault);
    }
    if value.bytes().filter(|&b| b == b'#').count() > 1 {
        return Some("it has more than one `#`".to_owned());
    }
    let scheme = scheme(value);
    if let Some(fault) = scheme.and_then(scheme_fault) {
        return Some(fault);
    }
    let after_scheme = scheme.map_or(value, |scheme| &value[scheme.len() + 1..]);
    let (authority, rest) = match after_scheme.strip_prefix("//") {
        Some(hierarchy) => {
            let end = hierarchy
                .bytes()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(hierarchy.len());
            hierarchy.split_at(end)
        }
        None => ("", after_scheme),
    };
    if rest.bytes().any(|b| matches!(b, b'[' | b']')) {
        return Some("`[` and `]` appear only around an IP address in the authority".to_owned());
    }
    authority_fault(authority)
}

/// Which bytes are a URI's characters: ASCII letters and digits, and
/// `-._~:/?#[]@!$&'()*+,;=%`. (A table: one look-up a byte.)
const URI_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < table.len() {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let others = b"-._~:/?#[]@!$&'()*+,;=%";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// The first character that has no place in a URI, or a `%` not followed
/// by two hex digits.
fn characters_fault(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        if !URI_BYTES[usize::from(byte)] {
            return Some(format!(
                "{:?} at byte {index} has no place in a URI (percent-encode it)",
                value
                    .get(index..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or_default()
            ));
        }
        if byte == b'%'
            && !bytes
                .get(index + 1..index + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        {
            return Some(format!(
                "the `%` at byte {index} is not followed by two hex digits"
            ));
        }
    }
    None
}

/// What is wrong with a scheme, if anything: it is a letter, then letters,
/// digits, `+`, `-` or `.`.
fn scheme_fault(scheme: &str) -> Option<String> {
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    (!valid).then(|| {
        format!(
            "{scheme:?} before the first `:` is no scheme (a letter, then letters, digits, \
             `+`, `-` or `.`), and a relative reference's first segment cannot hold a `:`"
        )
    })
}

/// What is wrong with an authority, if anything: `[userinfo@]host[:port]`,
/// with no `@` in the user information, a host that is an IP literal in
/// brackets or holds none, and a port of digits.
fn authority_fault(authority: &str) -> Option<String> {
    if authority.is_empty() {
        return None;
    }
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (userinfo, host_port),
        None => ("", authority),
    };
    if userinfo.contains(['@', '[', ']']) {
        return Some(format!(
            "the user information {userinfo:?} holds a `@`, `[` or `]`"
        ));
    }
    let (host, port) = match host_port.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((_, after)) => ("", after),
            None => return Some(format!("the IP literal in {host_port:?} has no `]`")),
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, port),
            None => (host_port, ""),
        },
    };
    if host.contains(['[', ']']) {
        return Some("`[` and `]` appear only around an IP address in the authority".to_owned());
    }
    let port = match (host_port.starts_with('['), port) {
        (true, "") => "",
        (true, after) => match after.strip_prefix(':') {
            Some(port) => port,
            None => {
                return Some(format!(
                    "{after:?} follows the IP literal, not a `:` and a port"
                ));
            }
        },
        (false, port) => port,
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("the port {port:?} is not digits"));
    }
    None
}

/// The text before the first `:` that comes before any `/`, `?` or `#`: the
/// scheme of an absolute URI (not checked).
fn scheme(value: &str) -> Option<&str> {
    let end = value
        .bytes()
        .position(|b| matches!(b, b':' | b'/' | b'?' | b'#'))?;
    value[end..].starts_with(':').then(|| &value[..end])
}
