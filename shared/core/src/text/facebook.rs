//! Facebook: a Page post holds up to 63,206 characters (Unicode scalar values here).
//! Facebook has no threads, so [`Overflow::Thread`] behaves as [`Overflow::Truncate`].

use super::{adapt, ContentTooLong, Overflow, Part};

/// The most characters a Facebook post may hold.
pub const MAX_CHARS: usize = 63_206;

/// The number of characters Facebook counts in `text` (after NFC).
pub fn char_count(text: &str) -> usize {
    super::nfc(text).chars().count()
}

/// Adapts a text for Facebook: one part whose `weighted_length` is its character count.
/// Over [`MAX_CHARS`]: `Thread` and `Truncate` cut at the best boundary and append `…`
/// and, when `link` is given, a space and the link; `Reject` fails with the count.
pub fn adapt_for_facebook(
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
) -> Result<Vec<Part>, ContentTooLong> {
    adapt_for_facebook_with(text, link, overflow, crate::Mentions::Keep)
}

/// [`adapt_for_facebook`] with a mentions policy (see [`super::mentions`]).
pub fn adapt_for_facebook_with(
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
    mentions: crate::Mentions,
) -> Result<Vec<Part>, ContentTooLong> {
    adapt(
        text,
        link,
        overflow,
        MAX_CHARS,
        false,
        |s: &str| s.chars().count(),
        move |s: &str| {
            super::mentions::for_network(crate::Network::Facebook, s, mentions).into_owned()
        },
        |_: &str| Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_the_limit_is_one_part() {
        let parts = adapt_for_facebook("你好 world", None, Overflow::Reject).unwrap();
        assert_eq!(
            parts,
            [Part {
                text: "你好 world".into(),
                weighted_length: 8
            }]
        );
        assert_eq!(char_count("e\u{301}"), 1);
    }

    #[test]
    fn over_the_limit() {
        let sentence = "这是一个很长的句子，用来测试。";
        let text = sentence.repeat(MAX_CHARS / sentence.chars().count() + 1);
        let total = text.chars().count();
        assert_eq!(total, 63_210);

        let err = adapt_for_facebook(&text, None, Overflow::Reject).unwrap_err();
        assert_eq!(
            err,
            ContentTooLong {
                weighted_length: 63_210,
                added_by_mentions: 0,
                limit: MAX_CHARS
            }
        );

        let link = "https://example.com/p/1";
        for policy in [Overflow::Truncate, Overflow::Thread] {
            let parts = adapt_for_facebook(&text, Some(link), policy).unwrap();
            assert_eq!(parts.len(), 1);
            let p = &parts[0];
            assert!(
                p.text.ends_with("。… https://example.com/p/1"),
                "{policy:?}"
            );
            assert_eq!(p.weighted_length, p.text.chars().count());
            // Cut after the last `。` that leaves room for the tail (25 characters).
            assert_eq!(p.weighted_length, 63_180 + 25);
        }
    }
}
