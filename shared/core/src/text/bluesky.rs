//! Bluesky: a post's text is at most 300 graphemes and 3,000 UTF-8 bytes (the
//! `app.bsky.feed.post` lexicon's `maxGraphemes` and `maxLength`, both enforced by the
//! PDS). Links and hashtags are *facets* (`app.bsky.richtext.facet`): byte ranges of the
//! text with what they stand for. A link shows shortened (scheme dropped, long paths cut
//! with `…`) while its facet keeps the full URI, as Bluesky's own app does.
//!
//! Mentions are left as plain text: the post's mentions policy decides whether a handle
//! becomes a mention facet, and its default (`plain`) makes none.

use super::{adapt, entities, ContentTooLong, Overflow, Part};
use std::ops::Range;
use unicode_segmentation::UnicodeSegmentation;

/// The most graphemes a post's text may hold.
pub const MAX_GRAPHEMES: usize = 300;
/// The most UTF-8 bytes a post's text may hold.
pub const MAX_BYTES: usize = 3_000;
/// The most characters a link shows (the rest is cut and `…` appended).
pub const MAX_LINK_DISPLAY: usize = 30;
/// The most graphemes of a tag facet's `tag` (the lexicon's `maxGraphemes`).
pub const MAX_TAG_GRAPHEMES: usize = 64;

/// What a facet stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    /// `app.bsky.richtext.facet#link`: the full URI.
    Link(String),
    /// `app.bsky.richtext.facet#tag`: the tag without its `#`.
    Tag(String),
}

/// One facet: a UTF-8 byte range of the shown text and what it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facet {
    pub range: Range<usize>,
    pub feature: Feature,
}

/// A part's text as Bluesky gets it: the text shown (links shortened) and its facets,
/// in order of position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RichText {
    pub text: String,
    pub facets: Vec<Facet>,
}

/// The number of graphemes (extended grapheme clusters) in `text`.
pub fn graphemes(text: &str) -> usize {
    text.graphemes(true).count()
}

/// How a link shows: without `https://`, `http://` and `www.`, cut to
/// [`MAX_LINK_DISPLAY`] characters with `…` when longer.
pub fn display_link(url: &str) -> String {
    let bare = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let bare = bare.strip_prefix("www.").unwrap_or(bare);
    if bare.chars().count() <= MAX_LINK_DISPLAY {
        return bare.to_string();
    }
    let cut: String = bare.chars().take(MAX_LINK_DISPLAY - 1).collect();
    format!("{cut}…")
}

/// The full URI of a link as written (`example.com/a` → `https://example.com/a`).
fn full_uri(url: &str) -> String {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        url.to_string()
    } else {
        format!("https://{url}")
    }
}

/// `text` as it shows on Bluesky, with its link and tag facets at exact byte ranges of
/// the shown text. Hashtags are twitter-text's (those inside a link left out); a tag of
/// more than [`MAX_TAG_GRAPHEMES`] graphemes stays plain text.
pub fn rich_text(text: &str) -> RichText {
    let mut shown = String::with_capacity(text.len());
    let mut facets = Vec::new();
    let mut at = 0;
    for r in entities::urls(text) {
        shown.push_str(&text[at..r.start]);
        let url = &text[r.clone()];
        let start = shown.len();
        shown.push_str(&display_link(url));
        facets.push(Facet {
            range: start..shown.len(),
            feature: Feature::Link(full_uri(url)),
        });
        at = r.end;
    }
    shown.push_str(&text[at..]);
    for r in entities::hashtags(&shown) {
        // The `#` (or its full-width form) is the first character.
        let hash = shown[r.clone()].chars().next().map_or(1, char::len_utf8);
        let tag = &shown[r.start + hash..r.end];
        if tag.is_empty() || graphemes(tag) > MAX_TAG_GRAPHEMES {
            continue;
        }
        if facets
            .iter()
            .any(|f| f.range.start < r.end && r.start < f.range.end)
        {
            continue;
        }
        facets.push(Facet {
            range: r.clone(),
            feature: Feature::Tag(tag.to_string()),
        });
    }
    facets.sort_by_key(|f| f.range.start);
    RichText {
        text: shown,
        facets,
    }
}

/// The measure the splitter fits to 300: the larger of the shown text's graphemes and
/// its bytes over ten (rounded up), so a part within it is within both limits.
pub fn weigh(text: &str) -> usize {
    let shown = rich_text(text).text;
    graphemes(&shown).max(shown.len().div_ceil(MAX_BYTES / MAX_GRAPHEMES))
}

/// Adapts a text for Bluesky: parts whose shown text is within 300 graphemes and 3,000
/// bytes, each part's `weighted_length` its [`weigh`]. `Thread` numbers the parts
/// ` (i/n)`; `Truncate` cuts at the best boundary and appends `…` and, when `link` is
/// given, a space and the link; `Reject` fails with the measure.
pub fn adapt_for_bluesky(
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
) -> Result<Vec<Part>, ContentTooLong> {
    // Bluesky links a name only through a mention facet, and none is made: the text
    // goes as it is under either mentions policy.
    adapt(
        text,
        link,
        overflow,
        MAX_GRAPHEMES,
        true,
        weigh,
        str::to_owned,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(text: &str, r: &Range<usize>) -> String {
        String::from_utf8(text.as_bytes()[r.clone()].to_vec()).unwrap()
    }

    #[test]
    fn links_show_short_and_their_facets_keep_the_full_uri() {
        let long = "https://www.example.com/articles/2026/11/a-very-long-path?x=1";
        let rt = rich_text(&format!("读这个 {long} 和 example.org 吧 #茶道 #tea"));
        assert_eq!(
            rt.text,
            "读这个 example.com/articles/2026/11/… 和 example.org 吧 #茶道 #tea"
        );
        let got: Vec<(String, Feature)> = rt
            .facets
            .iter()
            .map(|f| (slice(&rt.text, &f.range), f.feature.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "example.com/articles/2026/11/…".to_string(),
                    Feature::Link(long.to_string())
                ),
                (
                    "example.org".to_string(),
                    Feature::Link("https://example.org".to_string())
                ),
                ("#茶道".to_string(), Feature::Tag("茶道".to_string())),
                ("#tea".to_string(), Feature::Tag("tea".to_string())),
            ]
        );
    }

    #[test]
    fn mentions_stay_plain_text() {
        let rt = rich_text("hi @friend.bsky.social and @friend");
        assert_eq!(rt.text, "hi @friend.bsky.social and @friend");
        assert!(
            rt.facets
                .iter()
                .all(|f| matches!(f.feature, Feature::Link(_))),
            "{:?}",
            rt.facets
        );
    }

    #[test]
    fn the_measure_holds_both_limits() {
        // 300 Chinese characters: 300 graphemes, 900 bytes.
        assert_eq!(weigh(&"茶".repeat(300)), 300);
        // 300 four-byte emoji with skin tones (8 bytes each, one grapheme each).
        assert_eq!(weigh(&"👍🏽".repeat(300)), 300);
        // 200 family emoji of 25 bytes each: 200 graphemes but 5,000 bytes.
        let family = "👨‍👩‍👧‍👦";
        assert_eq!(family.len(), 25);
        assert_eq!(weigh(&family.repeat(200)), 500);
    }

    #[test]
    fn a_long_chinese_text_becomes_a_numbered_thread_within_both_limits() {
        let text = format!(
            "{} https://example.com/tea/longjing-2026-spring-harvest #龙井 {} @friend",
            "春天的龙井茶香气清新，".repeat(30),
            "茶园在杭州西湖边，".repeat(40)
        );
        let parts = adapt_for_bluesky(&text, None, Overflow::Thread).unwrap();
        assert_eq!(parts.len(), 3, "{parts:?}");
        for (i, p) in parts.iter().enumerate() {
            let shown = rich_text(&p.text).text;
            assert!(graphemes(&shown) <= MAX_GRAPHEMES, "{shown}");
            assert!(shown.len() <= MAX_BYTES);
            assert!(p.text.ends_with(&format!("({}/3)", i + 1)), "{}", p.text);
        }
        assert!(super::super::rejoins_to(
            &text,
            &parts.iter().map(|p| p.text.clone()).collect::<Vec<_>>()
        ));
        assert_eq!(
            adapt_for_bluesky(&text, None, Overflow::Reject),
            Err(ContentTooLong {
                weighted_length: weigh(&text),
                added_by_mentions: 0,
                limit: MAX_GRAPHEMES
            })
        );
    }
}
