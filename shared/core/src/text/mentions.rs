//! Keeping a text's `@name`s from becoming mentions ([`Mentions::Plain`]): the text
//! reads the same, and no network links or notifies anyone.
//!
//! - X links what twitter-text's extractor finds: an at sign (`@` or `＠`), not after a
//!   letter, digit or `_`, followed by 1–20 ASCII letters, digits or `_`
//!   ([`super::entities::mentions_or_lists`], checked against twitter-text's
//!   `extract.yml`). An invisible U+2060 WORD JOINER right after the at sign leaves
//!   nothing the extractor takes for a name, so no mention is made. U+2060 was chosen
//!   because it shows nothing and allows no line break between `@` and the name (a
//!   zero-width space would). It is outside twitter-text v3's weight-1 ranges, so X
//!   counts it 2 (`config/v3.json`), and the counter adds that like any character:
//!   [`super::x::weighted_length`] of the text sent is what X counts.
//! - Facebook Pages tag only `@[page-id]` (the Graph API's mention syntax for a post's
//!   `message`); a plain `@name` stays text. A word joiner after the at sign of
//!   `@[` keeps such text from tagging a Page. Facebook counts it as one character.
//!
//! [`Mentions::Keep`] leaves every text as it is.

use std::borrow::Cow;

use super::entities;
use crate::{Mentions, Network};

/// The invisible character put after an at sign that must not mention anyone.
pub const WORD_JOINER: char = '\u{2060}';

/// `text` as `network` gets it under `mentions`.
pub fn for_network(network: Network, text: &str, mentions: Mentions) -> Cow<'_, str> {
    match (mentions, network) {
        (Mentions::Keep, _) => Cow::Borrowed(text),
        (Mentions::Plain, Network::X) => plain_for_x(text),
        (Mentions::Plain, Network::Facebook) => plain_for_facebook(text),
        // A Bluesky mention is a facet, never the text itself, and none is made.
        (Mentions::Plain, Network::Bluesky) => Cow::Borrowed(text),
    }
}

/// A word joiner after the at sign of every mention or list X would link
/// ([`entities::linked_mentions`]); an `@` inside a URL is left alone, so the link stays
/// whole.
pub fn plain_for_x(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    // One pass joins every mention found; the loop guards against a name the first
    // pass uncovered (none is known to exist), and ends within the text's length.
    for _ in 0..=text.len() {
        let found = entities::linked_mentions(&out);
        if found.is_empty() {
            break;
        }
        let mut joined = String::with_capacity(out.len() + 3 * found.len());
        let mut last = 0;
        for r in found {
            let at_len = out[r.start..].chars().next().map_or(1, char::len_utf8);
            joined.push_str(&out[last..r.start + at_len]);
            joined.push(WORD_JOINER);
            last = r.start + at_len;
        }
        joined.push_str(&out[last..]);
        out = Cow::Owned(joined);
    }
    out
}

/// A word joiner after every at sign that starts a Graph API tag (`@[`).
pub fn plain_for_facebook(text: &str) -> Cow<'_, str> {
    if !text.contains("@[") && !text.contains("＠[") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 6);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if matches!(c, '@' | '＠') && chars.peek() == Some(&'[') {
            out.push(WORD_JOINER);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::x::weighted_length;

    #[test]
    fn plain_x_text_has_no_mention_and_reads_the_same() {
        let text = "@Lily 和 @小王 一起去爬山, cc ＠bob_1 and @team/hikers; mail a@b.com";
        let plain = plain_for_x(text);
        assert!(entities::linked_mentions(&plain).is_empty(), "{plain}");
        assert!(entities::mentions_or_lists(&plain).is_empty(), "{plain}");
        assert_eq!(
            plain.replace(WORD_JOINER, ""),
            text,
            "only joiners were added"
        );
        // @Lily, ＠bob_1 and @team/hikers were mentions; @小王 and a@b never were.
        assert_eq!(plain.matches(WORD_JOINER).count(), 3);
        assert!(plain.starts_with("@\u{2060}Lily 和 @小王"));
        // X counts each joiner 2, and so does the counter.
        assert_eq!(weighted_length(&plain), weighted_length(text) + 6);
        assert_eq!(weighted_length("@Lily 和 @小王 一起去爬山"), 25);
        assert_eq!(
            weighted_length(&plain_for_x("@Lily 和 @小王 一起去爬山")),
            27
        );
    }

    #[test]
    fn an_at_sign_inside_a_url_is_left_alone() {
        for text in [
            "see https://medium.com/@writer/post ok",
            "twitter.com/@nosch and medium.com/@writer",
            "… https://example.com/@Lily",
        ] {
            assert_eq!(plain_for_x(text), text);
            // The URL is counted whole, as X counts it (23 for the link).
            assert_eq!(weighted_length(&plain_for_x(text)), weighted_length(text));
        }
        let mixed = "@Lily https://medium.com/@writer";
        assert_eq!(
            plain_for_x(mixed),
            "@\u{2060}Lily https://medium.com/@writer"
        );
    }

    #[test]
    fn keep_and_texts_without_mentions_are_unchanged() {
        let text = "@Lily 和 @小王";
        assert_eq!(for_network(Network::X, text, Mentions::Keep), text);
        assert_eq!(for_network(Network::Facebook, text, Mentions::Keep), text);
        assert!(matches!(plain_for_x("没有提到任何人"), Cow::Borrowed(_)));
        assert_eq!(
            for_network(Network::Facebook, text, Mentions::Plain),
            text,
            "a plain @name is text on a Page"
        );
        assert_eq!(
            plain_for_facebook("hi @[123456789] and ＠[42:Name]"),
            "hi @\u{2060}[123456789] and ＠\u{2060}[42:Name]"
        );
    }
}
