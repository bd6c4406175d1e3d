//! A small entity scanner: URLs, @mentions, #hashtags and emoji sequences, as byte
//! ranges into the scanned text.
//!
//! It follows X's rules closely enough to count and split posts, but it is not a full
//! twitter-text extractor:
//! - a URL starts with `http://`/`https://` (any case), or without a scheme when its host
//!   ends in a known TLD (every country-code TLD and common generic ones: the full IANA
//!   list is not carried, see the `tld` module). With a scheme any alphabetic TLD of two
//!   letters or more is accepted. Hosts are made of ASCII letters, digits, `-`, `_` and
//!   letters of the alphabetic scripts below U+1100 (Latin, Greek, Cyrillic…). A URL
//!   stops at CJK characters and full-width punctuation, and trailing punctuation
//!   (`.` `,` `!` `?` `:` `;` `'` unbalanced `)` …) is not part of it. Hosts written in CJK
//!   scripts are not recognised (X would count `http://例子.com` as a URL);
//! - a mention is `@`/`＠` and 1 to 15 ASCII word characters;
//! - a hashtag is `#`/`＃` and a run of letters, digits, marks and `_` (CJK letters
//!   included) with at least one letter or `_`; a Weibo-style closing `#` right after it
//!   (`#话题#`) is kept with it so a split never separates it;
//! - an emoji is an extended grapheme cluster that displays as an emoji: see
//!   [`is_emoji_cluster`].
//!
//! Every range returned by [`scan`] starts and ends on a grapheme cluster boundary, so a
//! cut between entities never cuts a user-perceived character.

use std::ops::Range;

use unicode_properties::{EmojiStatus, UnicodeEmoji, UnicodeGeneralCategory};
use unicode_segmentation::UnicodeSegmentation;

use super::tld;

/// What kind of entity a range holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Url,
    Mention,
    Hashtag,
    Emoji,
}

/// One entity: its kind and its byte range in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: EntityKind,
    pub range: Range<usize>,
}

/// Every entity in `text`, sorted by position and never overlapping. URLs win over
/// mentions and hashtags (`https://x.com/#frag` is one URL); ranges are widened to
/// grapheme cluster boundaries.
pub fn scan(text: &str) -> Vec<Entity> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let clusters: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
    let mut bounds: Vec<usize> = clusters.iter().map(|&(b, _)| b).collect();
    bounds.push(text.len());
    let urls = url_spans(&chars);
    let mut found: Vec<Entity> = urls
        .iter()
        .map(|r| Entity {
            kind: EntityKind::Url,
            range: byte_range(text, &chars, &bounds, r),
        })
        .collect();

    let mut url_iter = urls.iter().peekable();
    let mut i = 0;
    while i < chars.len() {
        while url_iter.peek().is_some_and(|u| u.end <= i) {
            url_iter.next();
        }
        if let Some(u) = url_iter.peek() {
            if u.start <= i {
                i = u.end;
                continue;
            }
        }
        let limit = url_iter.peek().map_or(chars.len(), |u| u.start);
        let span = mention_at(&chars, i, limit)
            .map(|end| (EntityKind::Mention, end))
            .or_else(|| hashtag_at(&chars, i, limit).map(|end| (EntityKind::Hashtag, end)));
        match span {
            Some((kind, end)) => {
                found.push(Entity {
                    kind,
                    range: byte_range(text, &chars, &bounds, &(i..end)),
                });
                i = end;
            }
            None => i += 1,
        }
    }
    found.sort_by_key(|e| e.range.start);

    // Emoji clusters outside the entities found so far.
    let mut emoji = Vec::new();
    let mut taken = found.iter().peekable();
    for &(start, cluster) in &clusters {
        while taken.peek().is_some_and(|e| e.range.end <= start) {
            taken.next();
        }
        if taken.peek().is_some_and(|e| e.range.start <= start) {
            continue;
        }
        if is_emoji_cluster(cluster) {
            emoji.push(Entity {
                kind: EntityKind::Emoji,
                range: start..start + cluster.len(),
            });
        }
    }
    found.extend(emoji);
    found.sort_by_key(|e| e.range.start);
    found
}

/// The byte ranges of the URLs in `text` (not widened to grapheme boundaries: this is
/// what X replaces by a 23-character t.co link).
pub fn urls(text: &str) -> Vec<Range<usize>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    url_spans(&chars)
        .iter()
        .map(|r| byte_at(text, &chars, r.start)..byte_at(text, &chars, r.end))
        .collect()
}

/// Whether a grapheme cluster is an emoji sequence that X counts as one emoji:
/// a keycap (`1️⃣`), a flag (two regional indicators), or a cluster led by an emoji
/// character that either has emoji presentation by default (`😀`) or carries an emoji
/// variation selector (`❤️`), a skin-tone modifier (`👍🏽`), a zero-width joiner
/// (`👨‍👩‍👧‍👦`) or tag characters (subdivision flags). A text-presentation character
/// alone (`©`, `™`, `☺`) is not an emoji sequence and is weighed as a character.
pub fn is_emoji_cluster(cluster: &str) -> bool {
    let mut chars = cluster.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest = chars.as_str();
    if matches!(first, '#' | '*' | '0'..='9') {
        return rest.contains('\u{20E3}');
    }
    if is_regional_indicator(first) {
        return rest.chars().any(is_regional_indicator);
    }
    if !first.is_emoji_char() {
        return false;
    }
    let presentation = matches!(
        first.emoji_status(),
        EmojiStatus::EmojiPresentation
            | EmojiStatus::EmojiPresentationAndModifierBase
            | EmojiStatus::EmojiPresentationAndEmojiComponent
            | EmojiStatus::EmojiPresentationAndModifierAndEmojiComponent
    );
    presentation
        || rest.chars().any(|c| {
            c == '\u{FE0F}'
                || c == '\u{200D}'
                || c == '\u{20E3}'
                || ('\u{1F3FB}'..='\u{1F3FF}').contains(&c)
                || ('\u{E0020}'..='\u{E007F}').contains(&c)
        })
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

fn byte_at(text: &str, chars: &[(usize, char)], i: usize) -> usize {
    chars.get(i).map_or(text.len(), |&(b, _)| b)
}

/// Byte range of a char-index range, widened to the grapheme cluster boundaries in
/// `bounds` (sorted, from `0` to `text.len()`).
fn byte_range(
    text: &str,
    chars: &[(usize, char)],
    bounds: &[usize],
    r: &Range<usize>,
) -> Range<usize> {
    let start = byte_at(text, chars, r.start);
    let end = byte_at(text, chars, r.end);
    let start = match bounds.binary_search(&start) {
        Ok(_) => start,
        Err(k) => bounds[k.saturating_sub(1)],
    };
    let end = match bounds.binary_search(&end) {
        Ok(_) => end,
        Err(k) => bounds.get(k).copied().unwrap_or(text.len()),
    };
    start..end
}

// ---------------------------------------------------------------------------------
// URLs

/// Letters of the scripts below U+1100 (Latin with accents, Greek, Cyrillic, Hebrew,
/// Arabic, Indic, Thai…): X's 1-weight range. CJK and full-width forms are excluded.
fn is_narrow_letter(c: char) -> bool {
    !c.is_ascii() && c <= '\u{10FF}' && c.is_alphanumeric()
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || is_narrow_letter(c)
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!*';:=+,.$/%#[]-_~&|@?()".contains(c)
        || c == '\u{2013}'
        || is_narrow_letter(c)
}

/// Characters a URL path or query may end with (others are trailing punctuation).
fn is_path_end(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/=_#+-&)".contains(c) || is_narrow_letter(c)
}

/// Characters that, right before `http`, stop it from starting a URL.
fn blocks_scheme(prev: char) -> bool {
    prev.is_ascii_alphanumeric()
        || matches!(prev, '@' | '＠' | '$' | '#' | '＃')
        || ('\u{202A}'..='\u{202E}').contains(&prev)
}

/// Characters that, right before a bare host, stop it from starting a URL.
fn blocks_bare(prev: char) -> bool {
    blocks_scheme(prev) || is_host_char(prev) || prev == '/'
}

/// URL spans as char-index ranges.
fn url_spans(chars: &[(usize, char)]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let prev = i.checked_sub(1).map(|p| chars[p].1);
        let found = scheme_url_at(chars, i, prev).or_else(|| bare_url_at(chars, i, prev));
        match found {
            Some(end) => {
                spans.push(i..end);
                i = end;
            }
            None => i += 1,
        }
    }
    spans
}

fn starts_with_ci(chars: &[(usize, char)], i: usize, word: &str) -> bool {
    let mut k = i;
    for w in word.chars() {
        match chars.get(k) {
            Some(&(_, c)) if c.to_ascii_lowercase() == w => k += 1,
            _ => return false,
        }
    }
    true
}

fn scheme_url_at(chars: &[(usize, char)], i: usize, prev: Option<char>) -> Option<usize> {
    if prev.is_some_and(blocks_scheme) {
        return None;
    }
    let after = if starts_with_ci(chars, i, "https://") {
        i + 8
    } else if starts_with_ci(chars, i, "http://") {
        i + 7
    } else {
        return None;
    };
    let host_end = host_at(chars, after, false)?;
    Some(rest_of_url(chars, host_end))
}

fn bare_url_at(chars: &[(usize, char)], i: usize, prev: Option<char>) -> Option<usize> {
    let first = chars[i].1;
    if !(first.is_ascii_alphanumeric() || is_narrow_letter(first)) || prev.is_some_and(blocks_bare)
    {
        return None;
    }
    let host_end = host_at(chars, i, true)?;
    // `john.doe.jp@mail.com`, `name+tag@…`: an e-mail address, not a URL.
    if chars
        .get(host_end)
        .is_some_and(|&(_, c)| matches!(c, '@' | '＠' | '+'))
    {
        return None;
    }
    Some(rest_of_url(chars, host_end))
}

/// Parses a host starting at `i`; returns where it ends. The whole run of host
/// characters must be a valid host (`domain.com-oops` is no URL at all).
fn host_at(chars: &[(usize, char)], i: usize, known_tld: bool) -> Option<usize> {
    let mut end = i;
    while chars.get(end).is_some_and(|&(_, c)| is_host_char(c)) {
        end += 1;
    }
    while end > i && chars[end - 1].1 == '.' {
        end -= 1;
    }
    let host: String = chars[i..end].iter().map(|&(_, c)| c).collect();
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    let (tld, names) = labels.split_last()?;
    let edge_ok = |l: &str| !l.is_empty() && !l.starts_with(['-', '_']) && !l.ends_with(['-', '_']);
    if !names.iter().all(|l| edge_ok(l)) {
        return None;
    }
    // The registrable name (right before the TLD) cannot hold `_`.
    if names.last().is_some_and(|l| l.contains('_')) {
        return None;
    }
    let tld_ok = if let Some(puny) = tld.strip_prefix("xn--") {
        !puny.is_empty() && puny.chars().all(|c| c.is_ascii_alphanumeric())
    } else {
        tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
    };
    if !tld_ok || (known_tld && !tld::is_known(tld)) {
        return None;
    }
    Some(end)
}

/// After the host: an optional `:port`, then an optional path, query and fragment,
/// without trailing punctuation.
fn rest_of_url(chars: &[(usize, char)], host_end: usize) -> usize {
    let at = |k: usize| chars.get(k).map(|&(_, c)| c);
    let mut end = host_end;
    if at(end) == Some(':') && at(end + 1).is_some_and(|c| c.is_ascii_digit()) {
        end += 1;
        while at(end).is_some_and(|c| c.is_ascii_digit()) {
            end += 1;
        }
    }
    if !at(end).is_some_and(|c| matches!(c, '/' | '?' | '#')) {
        return end;
    }
    let path_start = end;
    while at(end).is_some_and(is_path_char) {
        end += 1;
    }
    while end > path_start {
        let last = chars[end - 1].1;
        if last == ')' {
            let opens = chars[path_start..end].iter().filter(|p| p.1 == '(').count();
            let closes = chars[path_start..end].iter().filter(|p| p.1 == ')').count();
            if opens >= closes {
                break;
            }
        } else if is_path_end(last) {
            break;
        }
        end -= 1;
    }
    end
}

// ---------------------------------------------------------------------------------
// Mentions and hashtags

fn is_ascii_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `@name` at char index `i`: returns its end.
fn mention_at(chars: &[(usize, char)], i: usize, limit: usize) -> Option<usize> {
    if !matches!(chars[i].1, '@' | '＠') {
        return None;
    }
    if i > 0 && (is_ascii_word(chars[i - 1].1) || "!#$%&*@＠".contains(chars[i - 1].1)) {
        return None;
    }
    let mut end = i + 1;
    while end < limit && is_ascii_word(chars[end].1) {
        end += 1;
    }
    let len = end - i - 1;
    let next = chars.get(end).map(|&(_, c)| c);
    if len == 0 || len > 15 || next.is_some_and(|c| is_ascii_word(c) || matches!(c, '@' | '＠')) {
        return None;
    }
    Some(end)
}

fn is_hashtag_char(c: char) -> bool {
    c.is_alphanumeric()
        || c == '_'
        || matches!(
            c.general_category_group(),
            unicode_properties::GeneralCategoryGroup::Mark
        )
}

/// `#tag` at char index `i`: returns its end.
fn hashtag_at(chars: &[(usize, char)], i: usize, limit: usize) -> Option<usize> {
    let sign = chars[i].1;
    if !matches!(sign, '#' | '＃') {
        return None;
    }
    if i > 0 && (is_ascii_word(chars[i - 1].1) || chars[i - 1].1 == '&') {
        return None;
    }
    let first = chars.get(i + 1).map(|&(_, c)| c)?;
    if !(first.is_alphanumeric() || first == '_') {
        return None;
    }
    let mut end = i + 1;
    while end < limit && is_hashtag_char(chars[end].1) {
        end += 1;
    }
    if !chars[i + 1..end]
        .iter()
        .any(|&(_, c)| c.is_alphabetic() || c == '_')
    {
        return None;
    }
    if end < limit && matches!(chars[end].1, '#' | '＃') {
        end += 1;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_strings(text: &str) -> Vec<&str> {
        urls(text).into_iter().map(|r| &text[r]).collect()
    }

    fn entities(text: &str) -> Vec<(EntityKind, &str)> {
        scan(text)
            .into_iter()
            .map(|e| (e.kind, &text[e.range]))
            .collect()
    }

    #[test]
    fn urls_with_scheme() {
        assert_eq!(
            url_strings("see https://example.com/a/very/long/path?x=1"),
            ["https://example.com/a/very/long/path?x=1"]
        );
        assert_eq!(url_strings("HTTP://Example.COM"), ["HTTP://Example.COM"]);
        assert_eq!(
            url_strings("http://somehost.com:3000/x"),
            ["http://somehost.com:3000/x"]
        );
        assert_eq!(
            url_strings("(http://en.wikipedia.org/wiki/Primer_(film))"),
            ["http://en.wikipedia.org/wiki/Primer_(film)"]
        );
        assert_eq!(
            url_strings("http://example.photography/x"),
            ["http://example.photography/x"]
        );
        assert!(url_strings("http://no-tld http://x.y http://").is_empty());
        assert!(url_strings("http://domain.com-that-you-should-have-put-a-space").is_empty());
        assert!(url_strings("abchttp://example.com").is_empty());
    }

    #[test]
    fn trailing_punctuation_is_not_part_of_a_url() {
        assert_eq!(
            url_strings("go to https://example.com/a."),
            ["https://example.com/a"]
        );
        assert_eq!(
            url_strings("(see https://example.com/a), ok"),
            ["https://example.com/a"]
        );
        assert_eq!(
            url_strings("http://example.com/path......!!"),
            ["http://example.com/path"]
        );
        assert_eq!(url_strings("http://twitter.com/."), ["http://twitter.com/"]);
        assert_eq!(url_strings("example.com, and"), ["example.com"]);
        assert_eq!(url_strings("http://t.co/x: ok"), ["http://t.co/x"]);
    }

    #[test]
    fn urls_stop_at_cjk_and_full_width_punctuation() {
        assert_eq!(
            url_strings("看这个https://example.com/a很好"),
            ["https://example.com/a"]
        );
        assert_eq!(
            url_strings("看这个https://example.com很好"),
            ["https://example.com"]
        );
        assert_eq!(
            url_strings("链接：https://example.com/a，谢谢"),
            ["https://example.com/a"]
        );
        assert_eq!(url_strings("（example.com/x）"), ["example.com/x"]);
        assert_eq!(
            url_strings("これは日本語です。example.com/path/index.html中国語example.com/path한국"),
            ["example.com/path/index.html", "example.com/path"]
        );
    }

    #[test]
    fn bare_urls_need_a_known_tld() {
        assert_eq!(url_strings("example.com"), ["example.com"]);
        assert_eq!(
            url_strings("foo.baz foo.co.jp www.foo.co.uk foo.comm foo.jp bit.ly/abc"),
            ["foo.co.jp", "www.foo.co.uk", "foo.jp", "bit.ly/abc"]
        );
        assert_eq!(url_strings("test ELPAÍS.com"), ["ELPAÍS.com"]);
        assert!(url_strings("e.g. Node.js index.html test.tar.bz2 3.14").is_empty());
        assert!(url_strings("john.doe.jp@mail.com name+x@foo.com").is_empty());
        assert!(url_strings("#test.com @test.com $test.com -test.com").is_empty());
    }

    #[test]
    fn mentions_hashtags_and_emoji() {
        assert_eq!(
            entities("hi @jack_1, #Rust and #话题 👍🏽 x@y"),
            [
                (EntityKind::Mention, "@jack_1"),
                (EntityKind::Hashtag, "#Rust"),
                (EntityKind::Hashtag, "#话题"),
                (EntityKind::Emoji, "👍🏽"),
            ]
        );
        assert_eq!(entities("@abcdefghijklmnop"), []);
        assert_eq!(
            entities("#123 #_1 #话题#正文"),
            [
                (EntityKind::Hashtag, "#_1"),
                (EntityKind::Hashtag, "#话题#"),
            ]
        );
        assert_eq!(
            entities("https://x.com/#frag 1️⃣#️⃣"),
            [
                (EntityKind::Url, "https://x.com/#frag"),
                (EntityKind::Emoji, "1️⃣"),
                (EntityKind::Emoji, "#️⃣"),
            ]
        );
    }

    #[test]
    fn emoji_clusters() {
        for yes in [
            "😀",
            "👨\u{200D}👩\u{200D}👧\u{200D}👦",
            "👍🏽",
            "🇨🇳",
            "1️⃣",
            "❤️",
            "©️",
        ] {
            assert!(is_emoji_cluster(yes), "{yes}");
        }
        for no in ["a", "1", "#", "©", "™", "你", "🇨"] {
            assert!(!is_emoji_cluster(no), "{no}");
        }
    }

    #[test]
    fn entity_ranges_end_on_grapheme_boundaries() {
        // `q` + combining acute does not compose: the URL's last grapheme is `q́`.
        let text = "x https://example.com/q\u{301} y";
        let e = scan(text);
        assert_eq!(e.len(), 1);
        assert_eq!(&text[e[0].range.clone()], "https://example.com/q\u{301}");
        assert_eq!(&text[urls(text)[0].clone()], "https://example.com/q");
    }
}
