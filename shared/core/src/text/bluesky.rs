//! Bluesky: a post's text is at most 300 graphemes and 3,000 UTF-8 bytes (the
//! `app.bsky.feed.post` lexicon's `maxGraphemes` and `maxLength`, both enforced by the
//! PDS). Links and hashtags are *facets* (`app.bsky.richtext.facet`): byte ranges of the
//! text with what they stand for. A link shows shortened (scheme dropped, long paths cut
//! with `…`) while its facet keeps the full URI, as Bluesky's own app does.
//!
//! Mentions are facets too (`app.bsky.richtext.facet#mention`, the DID of the account):
//! [`handle_mentions`] finds the `@handle`s Bluesky's own app would take for one, and
//! [`RichText::add_mentions`] makes a facet of each whose DID is known. The post's
//! mentions policy decides whether any is made (its default, `plain`, makes none), and
//! the publisher resolves the handles on the account's PDS.

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
/// The most UTF-8 bytes of a tag facet's `tag` (the lexicon's `maxLength`).
pub const MAX_TAG_BYTES: usize = 640;

/// What a facet stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    /// `app.bsky.richtext.facet#link`: the full URI.
    Link(String),
    /// `app.bsky.richtext.facet#tag`: the tag without its `#`.
    Tag(String),
    /// `app.bsky.richtext.facet#mention`: the DID of the account mentioned.
    Mention(String),
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

/// An `@handle` of a shown text: the byte range of `@` and the handle, and the handle
/// in lower case (handles are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleMention {
    pub range: Range<usize>,
    pub handle: String,
}

/// The most characters a handle has (the atproto handle spec).
pub const MAX_HANDLE_LEN: usize = 253;

/// Whether `name` is a handle by the atproto handle spec (<https://atproto.com/specs/handle>):
/// ASCII, at most 253 characters, two or more labels separated by `.`, each of 1 to 63
/// letters, digits and `-`, neither starting nor ending with `-`, the last one starting
/// with a letter.
pub fn is_handle(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= MAX_HANDLE_LEN
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// ASCII word characters, as a JavaScript `\b` sees them.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `@handle`s of `rt`'s shown text that no link or tag facet covers, as Bluesky's
/// app detects them (`@atproto/api` `detectFacets`: `(^|\s|\()(@)([a-zA-Z0-9.-]+)(\b)`,
/// kept only when a valid domain or ending in `.test`): an `@` at the start, after
/// white space or after `(`; then the longest run of ASCII letters, digits, `.` and `-`
/// that ends at a word boundary; kept when it is a handle ([`is_handle`]) whose last
/// label is a known top-level domain or `test`. So `name@example.com` (an email),
/// `medium.com/@writer` (inside a link) and `@小明` are not mentions.
pub fn handle_mentions(rt: &RichText) -> Vec<HandleMention> {
    let text = rt.text.as_str();
    let mut found = Vec::new();
    let mut before: Option<char> = None;
    for (at, c) in text.char_indices() {
        let prev = before.replace(c);
        if c != '@' || !prev.is_none_or(|p| p.is_whitespace() || p == '(') {
            continue;
        }
        let start = at + 1;
        let run = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .map_or(text.len(), |n| start + n);
        let after = |end: usize| text[end..].chars().next();
        // The longest prefix of the run that ends at a word boundary (all ASCII, so
        // every byte index of the run is a character boundary).
        let end = (start + 1..=run).rev().find(|&end| {
            let last = text.as_bytes()[end - 1] as char;
            is_word(last) != after(end).is_some_and(is_word)
        });
        let Some(end) = end else { continue };
        let handle = &text[start..end];
        let tld = handle.rsplit('.').next().unwrap_or_default();
        if !is_handle(handle) || !(tld.eq_ignore_ascii_case("test") || super::tld::is_known(tld)) {
            continue;
        }
        let range = at..end;
        if rt
            .facets
            .iter()
            .any(|f| f.range.start < range.end && range.start < f.range.end)
        {
            continue;
        }
        found.push(HandleMention {
            range,
            handle: handle.to_ascii_lowercase(),
        });
    }
    found
}

impl RichText {
    /// Adds a mention facet for each of `mentions` (found in this text by
    /// [`handle_mentions`]) whose handle `did_of` gives a DID for; the others stay
    /// plain text. Facets stay in order of position.
    pub fn add_mentions<'a>(
        &mut self,
        mentions: &[HandleMention],
        did_of: impl Fn(&str) -> Option<&'a str>,
    ) {
        for m in mentions {
            let Some(did) = did_of(&m.handle) else {
                continue;
            };
            let free = self.text.get(m.range.clone()).is_some()
                && !self
                    .facets
                    .iter()
                    .any(|f| f.range.start < m.range.end && m.range.start < f.range.end);
            if free {
                self.facets.push(Facet {
                    range: m.range.clone(),
                    feature: Feature::Mention(did.to_owned()),
                });
            }
        }
        self.facets.sort_by_key(|f| f.range.start);
    }
}

/// The number of graphemes (extended grapheme clusters) in `text`.
pub fn graphemes(text: &str) -> usize {
    text.graphemes(true).count()
}

/// How a link shows: without `https://`, `http://` and `www.`, cut to
/// [`MAX_LINK_DISPLAY`] characters with `…` when longer; the cut falls between
/// graphemes, so a flag or an emoji sequence is never shown in half. A link whose cut
/// would take away letters that are not ASCII shows whole: they may be words written
/// straight after it, and a long path in Chinese or Russian loses nothing by it.
pub fn display_link(url: &str) -> String {
    let bare = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let bare = bare.strip_prefix("www.").unwrap_or(bare);
    if bare.chars().count() <= MAX_LINK_DISPLAY {
        return bare.to_string();
    }
    let mut cut = String::new();
    let mut chars = 0;
    for g in bare.graphemes(true) {
        chars += g.chars().count();
        if chars > MAX_LINK_DISPLAY - 1 {
            break;
        }
        cut.push_str(g);
    }
    // What would be cut away holds letters that are not ASCII: words written straight
    // after the link (`…/p/1作者把城市规划讲得非常透彻`), which the shown text must keep.
    if bare[cut.len()..]
        .chars()
        .any(|c| c.is_alphabetic() && !c.is_ascii())
    {
        return bare.to_string();
    }
    format!("{cut}…")
}

/// Whether `c` ends a link although it is not white space: the punctuation of Chinese
/// and Japanese text (of the CJK Symbols and Punctuation block, the full-width and
/// half-width punctuation forms) and general punctuation (`“” ‘’ … —— ※`). Such text is
/// written without spaces, so the sentence after a link would otherwise run into it;
/// none of these is written unencoded in a URL. The letters and numbers of those
/// blocks (`々 〆 〇`, the kana repeat marks) and the hyphens and en dash (`2023–24`
/// in a Wikipedia title) stay in a link.
fn ends_link(c: char) -> bool {
    matches!(c,
        '\u{2014}'..='\u{205e}'
            | '\u{3000}'..='\u{303f}'
            | '\u{ff01}'..='\u{ff0f}'
            | '\u{ff1a}'..='\u{ff20}'
            | '\u{ff3b}'..='\u{ff40}'
            | '\u{ff5b}'..='\u{ff65}')
        && !c.is_alphanumeric()
}

/// White space as a JavaScript regular expression's `\s` sees it (what Bluesky's app
/// splits on): Unicode white space and U+FEFF, without U+0085.
fn is_js_space(c: char) -> bool {
    c == '\u{feff}' || (c.is_whitespace() && c != '\u{85}')
}

/// A link of a text as Bluesky's app detects it (but for where it ends: [`links`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpan {
    /// The link's UTF-8 byte range in the text (trailing punctuation left out).
    pub range: Range<usize>,
    /// The run it was found in: from the link's start to the next white space or
    /// punctuation that ends a link. A cut inside it would change the link.
    pub run: Range<usize>,
    /// The full URI: the link as written, `https://` put before a bare domain.
    pub uri: String,
}

/// The links of `text`, found as Bluesky's own app finds them (`detectFacets` in
/// `@atproto/api`'s rich text), so a post reads on Bluesky as if written there:
/// - a link starts the text, or follows white space or `(`; one with a scheme may also
///   follow any character that is not ASCII (`读这篇：https://…`, as Chinese and
///   Japanese are written without spaces; Bluesky's app leaves such a link as text);
/// - it is `http://` or `https://` (any case) and at least one more character, or a
///   bare domain of ASCII letters and digits in two or more dot-separated labels, the
///   first starting with a letter, whose last label is a known top-level domain
///   ([`super::tld::is_known`], any case) with anything after it;
/// - it runs to the next white space, whatever the script of its host, path or query
///   (`https://zh.wikipedia.org/wiki/龙井茶`), or to the first Chinese, Japanese or
///   general punctuation mark ([`ends_link`]: `，。！？：、「」“”…`) where Bluesky's app
///   runs on (it would take `https://example.com/p/1，作者说……` whole as the link,
///   and shorten it when shown, so the sentence after it would be lost); then one
///   trailing `.`, `,`, `;`, `:`, `!` or `?` is left out, and a trailing `)` when the
///   link holds no `(`.
///
/// A link with nothing but `/` after its scheme is left out (the PDS refuses such a
/// URI). After a run that is no link, the search goes on after that run's end, as the
/// app's regular expression does.
pub fn links(text: &str) -> Vec<LinkSpan> {
    let mut found = Vec::new();
    // Where the app's expression searches on from: the end of the last run it matched.
    let mut from = 0;
    // The end of the run of non-white-space the current position is in.
    let mut run_end = 0;
    let mut before: Option<char> = None;
    for (at, c) in text.char_indices() {
        let prev = before.replace(c);
        if prev.is_some() && at <= from {
            continue;
        }
        let head = &text.as_bytes()[at..];
        let scheme = ["https://", "http://"]
            .into_iter()
            .find(|s| {
                head.get(..s.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(s.as_bytes()))
            })
            .map(str::len);
        let starts = match prev {
            None => true,
            Some(p) => is_js_space(p) || p == '(' || (scheme.is_some() && !p.is_ascii()),
        };
        if !starts {
            continue;
        }
        // Every position of a run has the same end: found once per run, so the whole
        // search stays linear in the text's length.
        if at >= run_end {
            run_end = text[at..]
                .find(|c| is_js_space(c) || ends_link(c))
                .map_or(text.len(), |n| at + n);
        }
        let end = run_end;
        let run = &text[at..end];
        let valid = match scheme {
            Some(n) if run.len() > n => true,
            _ => match bare_domain_shape(run) {
                Some(domain) => domain.rsplit('.').next().is_some_and(super::tld::is_known),
                // No match here: the search goes on at the next character.
                None => continue,
            },
        };
        from = end;
        if !valid {
            continue;
        }
        let mut link_end = end;
        if text[..link_end].ends_with(['.', ',', ';', ':', '!', '?']) {
            link_end -= 1;
        }
        if text[..link_end].ends_with(')') && !text[at..link_end].contains('(') {
            link_end -= 1;
        }
        let link = &text[at..link_end];
        let host_follows = match scheme {
            Some(n) => link.len() > n && !link[n..].starts_with('/'),
            None => true,
        };
        if host_follows {
            found.push(LinkSpan {
                range: at..link_end,
                run: at..end,
                uri: full_uri(link),
            });
        }
    }
    found
}

/// The domain a run starts with when it has the shape Bluesky's app takes for one
/// (ASCII letters and digits, the first a letter, then one or more `.` and a label of
/// letters and digits).
fn bare_domain_shape(run: &str) -> Option<&str> {
    let bytes = run.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let label = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(bytes.len() - from)
    };
    let mut end = label(0);
    let mut labels = 1;
    while bytes.get(end) == Some(&b'.') {
        let len = label(end + 1);
        if len == 0 {
            break;
        }
        end += 1 + len;
        labels += 1;
    }
    (labels >= 2).then(|| &run[..end])
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
/// more than [`MAX_TAG_GRAPHEMES`] graphemes or [`MAX_TAG_BYTES`] bytes stays plain
/// text (the PDS would refuse the record).
pub fn rich_text(text: &str) -> RichText {
    let mut shown = String::with_capacity(text.len());
    let mut facets = Vec::new();
    let mut at = 0;
    for link in links(text) {
        shown.push_str(&text[at..link.range.start]);
        let start = shown.len();
        shown.push_str(&display_link(&text[link.range.clone()]));
        facets.push(Facet {
            range: start..shown.len(),
            feature: Feature::Link(link.uri),
        });
        at = link.range.end;
    }
    shown.push_str(&text[at..]);
    for r in entities::hashtags(&shown) {
        // The `#` (or its full-width form) is the first character.
        let hash = shown[r.clone()].chars().next().map_or(1, char::len_utf8);
        let tag = &shown[r.start + hash..r.end];
        if tag.is_empty() || graphemes(tag) > MAX_TAG_GRAPHEMES || tag.len() > MAX_TAG_BYTES {
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
    // Bluesky links a name only through a mention facet, never through the text: the
    // text goes as it is under either mentions policy (the publisher makes the facets).
    adapt(
        text,
        link,
        overflow,
        MAX_GRAPHEMES,
        true,
        weigh,
        str::to_owned,
        // A cut inside a link's run would change the link.
        |text: &str| links(text).into_iter().map(|l| l.run).collect(),
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
    fn a_tag_over_the_lexicon_limits_stays_plain_text() {
        let tags = |text: &str| -> Vec<String> {
            rich_text(text)
                .facets
                .into_iter()
                .filter_map(|f| match f.feature {
                    Feature::Tag(t) => Some(t),
                    _ => None,
                })
                .collect()
        };
        let longest = "茶".repeat(MAX_TAG_GRAPHEMES);
        assert_eq!(tags(&format!("#{longest}")), [longest.as_str()]);
        assert!(tags(&format!("#{longest}茶")).is_empty());
        // 64 graphemes, each a letter with marks NFC cannot fold into it: 1,088 bytes.
        let marked = "a\u{301}\u{316}\u{317}\u{318}\u{319}\u{31a}\u{31b}\u{31c}".repeat(64);
        assert_eq!(graphemes(&marked), 64);
        assert!(marked.len() > MAX_TAG_BYTES);
        assert!(tags(&format!("#{marked}")).is_empty());
    }

    fn links_of(text: &str) -> Vec<(String, String)> {
        let rt = rich_text(text);
        rt.facets
            .iter()
            .filter_map(|f| match &f.feature {
                Feature::Link(uri) => Some((slice(&rt.text, &f.range), uri.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_link_runs_to_the_next_white_space_whatever_its_script() {
        assert_eq!(
            links_of("读 https://zh.wikipedia.org/wiki/龙井茶 吧"),
            pairs(&[(
                "zh.wikipedia.org/wiki/龙井茶",
                "https://zh.wikipedia.org/wiki/龙井茶"
            )])
        );
        assert_eq!(
            links_of("https://例え.jp/パス?q=値 and https://example.com/🇨🇳/flag HTTP://例え.jp"),
            pairs(&[
                ("例え.jp/パス?q=値", "https://例え.jp/パス?q=値"),
                ("example.com/🇨🇳/flag", "https://example.com/🇨🇳/flag"),
                ("HTTP://例え.jp", "HTTP://例え.jp"),
            ])
        );
        // Exact byte ranges: the shown text sliced at the facet is the link as shown.
        let rt = rich_text("茶 https://zh.wikipedia.org/wiki/龙井茶\u{3000}好");
        assert_eq!(rt.text, "茶 zh.wikipedia.org/wiki/龙井茶\u{3000}好");
        assert_eq!(
            rt.facets[0].range,
            4..4 + "zh.wikipedia.org/wiki/龙井茶".len()
        );
        // A long one shows cut at a grapheme boundary (never half a flag).
        let flags = format!("https://example.com/{}", "🇨🇳".repeat(20));
        let shown = &links_of(&flags)[0].0;
        assert!(shown.ends_with("🇨🇳…"), "{shown}");
        assert_eq!(links_of(&flags)[0].1, flags);
    }

    #[test]
    fn trailing_punctuation_and_an_unbalanced_paren_are_not_the_links() {
        for (text, shown, uri) in [
            (
                "see https://example.com/a.",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "see https://example.com/a, ok",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "https://example.com/a; b",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "https://example.com/a: b",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "wow https://example.com/a!",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "https://example.com/a?",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "(https://example.com/a)",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "(see https://example.com/a).",
                "example.com/a",
                "https://example.com/a",
            ),
            (
                "https://en.wikipedia.org/wiki/Tea_(drink)",
                "en.wikipedia.org/wiki/Tea_(dr…",
                "https://en.wikipedia.org/wiki/Tea_(drink)",
            ),
            ("(example.com/a)", "example.com/a", "https://example.com/a"),
            (
                "读 example.com/龙井茶。",
                "example.com/龙井茶",
                "https://example.com/龙井茶",
            ),
        ] {
            assert_eq!(links_of(text), pairs(&[(shown, uri)]), "{text}");
        }
    }

    #[test]
    fn a_link_ends_at_chinese_punctuation_and_the_sentence_after_it_is_kept() {
        // As a Moments post is written: no space after the link.
        let text = "今天读了一篇好文章：https://example.com/p/1，作者把城市规划讲得非常透彻，推荐大家都去看看。";
        let rt = rich_text(text);
        assert_eq!(
            rt.text,
            "今天读了一篇好文章：example.com/p/1，作者把城市规划讲得非常透彻，推荐大家都去看看。"
        );
        assert_eq!(
            rt.facets
                .iter()
                .map(|f| (slice(&rt.text, &f.range), f.feature.clone()))
                .collect::<Vec<_>>(),
            [(
                "example.com/p/1".to_string(),
                Feature::Link("https://example.com/p/1".into())
            )]
        );
        // Letters, numbers and the en dash of those blocks stay in the link.
        for uri in [
            "https://ja.wikipedia.org/wiki/佐々木小次郎",
            "https://en.wikipedia.org/wiki/2023–24_Premier_League",
            "https://example.com/〇〆ゝ",
        ] {
            let found: Vec<String> = links(uri).into_iter().map(|l| l.uri).collect();
            assert_eq!(found, [uri]);
        }
        for (text, uri) in [
            ("看 https://example.com/a「好」", "https://example.com/a"),
            ("https://example.com/a——他说", "https://example.com/a"),
            ("“https://example.com/b”他说", "https://example.com/b"),
            ("https://example.com/c…还有", "https://example.com/c"),
            ("https://example.com/d！！", "https://example.com/d"),
            ("https://example.com/e、f", "https://example.com/e"),
        ] {
            let found: Vec<String> = links(text).into_iter().map(|l| l.uri).collect();
            assert_eq!(found, [uri], "{text}");
        }
        // Words written straight after a link, with no mark between, are taken into it
        // (as Bluesky's app takes them), but never cut away when it shows short.
        let text = format!(
            "读https://example.com/p/1作者把城市规划讲得非常透彻 {}",
            "好"
        );
        let rt = rich_text(&text);
        assert!(
            rt.text.contains("作者把城市规划讲得非常透彻"),
            "{}",
            rt.text
        );
        // A paragraph run into a link, too long for one part: a thread keeps every
        // word, each part within the limit.
        let text = format!("读https://example.com/p/1{}", "城".repeat(400));
        let parts = adapt_for_bluesky(&text, None, Overflow::Thread).unwrap();
        assert!(
            parts.iter().all(|p| weigh(&p.text) <= MAX_GRAPHEMES),
            "{parts:?}"
        );
        let shown: String = parts.iter().map(|p| rich_text(&p.text).text).collect();
        assert_eq!(shown.matches('城').count(), 400);
    }

    #[test]
    fn a_link_with_a_scheme_may_follow_chinese_or_japanese_text() {
        assert_eq!(
            links_of("读这篇：https://example.com/龙井 好，又见https://例え.jp/パス"),
            pairs(&[
                ("example.com/龙井", "https://example.com/龙井"),
                ("例え.jp/パス", "https://例え.jp/パス"),
            ])
        );
    }

    #[test]
    fn a_bare_domain_is_a_link_only_with_a_known_top_level_domain() {
        assert_eq!(
            links_of("example.org and Example.COM/x"),
            pairs(&[
                ("example.org", "https://example.org"),
                ("Example.COM/x", "https://Example.COM/x"),
            ])
        );
        // Not links: unknown or missing top-level domains, an email, a scheme with
        // nothing after it, a link right after an ASCII character other than white
        // space or `(`, a bare domain right after any other character.
        for text in [
            "file.notatld and node.js e.g. i.e.",
            "mail tea@example.com",
            "http:// and https:///x",
            "xhttps://example.com \"https://example.com\"",
            "例子example.com",
        ] {
            assert_eq!(links_of(text), [], "{text}");
        }
    }

    #[test]
    fn a_thread_or_a_truncation_never_changes_a_link() {
        // The link holds a clause mark, a better cut than the space after it: the cut
        // still falls outside the link, which stays whole in its part.
        let url = "https://zh.wikipedia.org/wiki/龙井茶,西湖";
        let text = format!("{} {url} {}", "茶".repeat(260), "好".repeat(40));
        let parts = adapt_for_bluesky(&text, None, Overflow::Thread).unwrap();
        assert_eq!(parts.len(), 2, "{parts:?}");
        let found: Vec<String> = parts
            .iter()
            .flat_map(|p| links_of(&p.text))
            .map(|(_, uri)| uri)
            .collect();
        assert_eq!(found, [url]);
        assert!(super::super::rejoins_to(
            &text,
            &parts.iter().map(|p| p.text.clone()).collect::<Vec<_>>()
        ));
        // Truncated right after the link: the `…` is not taken into it.
        let cut = adapt_for_bluesky(&text, None, Overflow::Truncate).unwrap();
        assert_eq!(links_of(&cut[0].text)[0].1, url, "{}", cut[0].text);
        assert!(cut[0].text.ends_with('…'), "{}", cut[0].text);
        assert!(cut[0].weighted_length <= MAX_GRAPHEMES);
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

    fn mentions_of(text: &str) -> Vec<(String, String)> {
        let rt = rich_text(text);
        handle_mentions(&rt)
            .iter()
            .map(|m| (slice(&rt.text, &m.range), m.handle.clone()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn handles_are_found_as_blueskys_app_finds_them() {
        assert_eq!(
            mentions_of("hi @alice.bsky.social and @Bob.Test. (@carol.example.com)"),
            pairs(&[
                ("@alice.bsky.social", "alice.bsky.social"),
                ("@Bob.Test", "bob.test"),
                ("@carol.example.com", "carol.example.com"),
            ])
        );
        // Byte ranges in Chinese text: after an ideographic space, before a CJK
        // character, and at the very start.
        let text = "@friend.test 请告诉\u{3000}@lily.bsky.social一声";
        let rt = rich_text(text);
        let found = handle_mentions(&rt);
        assert_eq!(found[0].range, 0..12);
        assert_eq!(found[1].range, 25..42);
        assert_eq!(slice(text, &found[1].range), "@lily.bsky.social");
        // Not mentions: an email, an @ inside a link, a WeChat nickname, a name with no
        // domain, an @ right after a CJK character, unknown or numeric top-level domains,
        // labels starting or ending with `-`, a name running on into `_`.
        for text in [
            "mail me at alice@example.com",
            "read https://medium.com/@writer.example.com now",
            "read medium.com/@writer.bsky.social",
            "@小明 你好",
            "@friend 你好",
            "你好@alice.bsky.social",
            "@alice.notatld @alice.123",
            "@-alice.test @alice-.test",
            "@alice.test_x",
            "@.test @alice..test",
        ] {
            assert_eq!(mentions_of(text), [], "{text}");
        }
        // Trailing punctuation is not part of the handle.
        assert_eq!(
            mentions_of("thanks @alice.test! and @bob.test-"),
            pairs(&[("@alice.test", "alice.test"), ("@bob.test", "bob.test")])
        );
        assert!(is_handle("xn--bcher-kva.tld"));
        assert!(!is_handle(&format!("{}.test", "a".repeat(64))));
        assert!(!is_handle(&format!("{}test", "a.".repeat(130))));
    }

    #[test]
    fn a_resolved_handle_becomes_a_mention_facet_at_its_exact_bytes() {
        let text = "读 https://example.com/a 和 #茶 @Lily.test @小明 @nobody.test 吧";
        let mut rt = rich_text(text);
        let found = handle_mentions(&rt);
        assert_eq!(found.len(), 2, "{found:?}");
        rt.add_mentions(&found, |h| (h == "lily.test").then_some("did:plc:lily"));
        let got: Vec<(String, Feature)> = rt
            .facets
            .iter()
            .map(|f| (slice(&rt.text, &f.range), f.feature.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "example.com/a".to_string(),
                    Feature::Link("https://example.com/a".to_string())
                ),
                ("#茶".to_string(), Feature::Tag("茶".to_string())),
                (
                    "@Lily.test".to_string(),
                    Feature::Mention("did:plc:lily".to_string())
                ),
            ]
        );
        assert_eq!(
            rt.text,
            "读 example.com/a 和 #茶 @Lily.test @小明 @nobody.test 吧"
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
