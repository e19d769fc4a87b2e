//! What a receiver says back of a message it refused: the reader's words, cut
//! short, since they may quote the sender's input whole (a 100 kB value in a
//! 100 kB error) and go into an answer, a log line and a callback.

/// The most of a refusal's text passed on, in bytes.
const MAX_REFUSAL_BYTES: usize = 1024;

/// `text`, cut to at most [`MAX_REFUSAL_BYTES`] at a character boundary,
/// saying how long it was when cut.
pub(crate) fn shortened(text: String) -> String {
    if text.len() <= MAX_REFUSAL_BYTES {
        return text;
    }
    let mut end = MAX_REFUSAL_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let kept = text.get(..end).unwrap_or_default();
    format!("{kept}… ({} bytes in all)", text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_refusal_is_cut_at_a_character_boundary_and_says_so() {
        assert_eq!(shortened("short".to_owned()), "short");
        let long = "é".repeat(2_000);
        let cut = shortened(long);
        assert!(cut.ends_with("… (4000 bytes in all)"), "{cut}");
        assert!(cut.len() < MAX_REFUSAL_BYTES + 40);
    }
}
