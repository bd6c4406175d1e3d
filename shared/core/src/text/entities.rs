//! The entities X recognises in a text, found the way twitter-text finds them: URLs
//! (with or without a scheme), @mentions and @lists, #hashtags; and emoji sequences.
//!
//! The rules are twitter-text's (`extractUrlsWithIndices`, `extractMentionsOrListsWithIndices`,
//! `extractHashtagsWithIndices`, read from its JavaScript source at the commit named in
//! `tests/data/twitter-text/SOURCE.md`), written out here as scanners instead of regular
//! expressions, and checked against its conformance files. In short:
//! - a URL is an optional `http://`/`https://`, a host of dot-separated labels in any
//!   script ending in a TLD from [`super::tld`], an optional port, path and query.
//!   Without a scheme only the ASCII part of the host counts (`例子example.com` → the
//!   URL `example.com`), and only after a character other than `-`, `_`, `.`, `/`. A host
//!   label longer than 63 characters once punycoded makes the whole match no URL; a t.co
//!   link ends after its slug (at most 40 characters) and query;
//! - a mention is `@`/`＠` and 1 to 20 ASCII word characters, optionally a `/list`;
//! - a hashtag is `#`/`＃` and a run of letters, marks, digits and a few joiners with at
//!   least one letter; one that overlaps a URL is dropped;
//! - an emoji is an extended grapheme cluster that displays as an emoji: see
//!   [`is_emoji_cluster`].
//!
//! Ranges are byte ranges into the scanned text. [`scan`] widens them to grapheme
//! cluster boundaries, so a cut between entities never cuts a user-perceived character.

use std::ops::Range;

use unicode_properties::{EmojiStatus, GeneralCategoryGroup, UnicodeEmoji, UnicodeGeneralCategory};
use unicode_segmentation::UnicodeSegmentation;

use super::tld;

/// What kind of entity a range holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Url,
    /// A mention, or a list (`@user/list`).
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

/// Every entity in `text`, sorted by position and never overlapping: URLs, mentions and
/// lists, hashtags (an entity overlapping an earlier one is dropped, as twitter-text's
/// `extractEntitiesWithIndices` does), then the emoji sequences outside them. Ranges are
/// widened to grapheme cluster boundaries.
pub fn scan(text: &str) -> Vec<Entity> {
    let chars = Chars::new(text);
    let mut found: Vec<(EntityKind, Range<usize>)> = Vec::new();
    found.extend(
        url_spans(&chars.chars)
            .into_iter()
            .map(|r| (EntityKind::Url, r)),
    );
    found.extend(
        mention_spans(&chars.chars)
            .into_iter()
            .map(|r| (EntityKind::Mention, r)),
    );
    found.extend(
        hashtag_spans(&chars.chars)
            .into_iter()
            .map(|r| (EntityKind::Hashtag, r)),
    );
    // Stable: at one start, the URL wins.
    found.sort_by_key(|(_, r)| r.start);
    let mut kept: Vec<Entity> = Vec::new();
    let mut last_end = 0;
    for (kind, r) in found {
        if !kept.is_empty() && r.start < last_end {
            continue;
        }
        last_end = r.end;
        kept.push(Entity {
            kind,
            range: chars.bytes(&r),
        });
    }
    let clusters: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
    let mut bounds: Vec<usize> = clusters.iter().map(|&(b, _)| b).collect();
    bounds.push(text.len());
    for e in &mut kept {
        e.range = widen(&bounds, &e.range);
    }

    // Emoji clusters outside the entities found so far.
    let mut emoji = Vec::new();
    let mut taken = kept.iter().peekable();
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
    kept.extend(emoji);
    kept.sort_by_key(|e| e.range.start);
    kept
}

/// The byte ranges of the URLs in `text`, as twitter-text extracts them (not widened to
/// grapheme boundaries: this is what X replaces by a 23-character t.co link).
pub fn urls(text: &str) -> Vec<Range<usize>> {
    let chars = Chars::new(text);
    url_spans(&chars.chars)
        .iter()
        .map(|r| chars.bytes(r))
        .collect()
}

/// The byte ranges of the mentions and lists in `text` (`@name` or `@name/list`).
pub fn mentions_or_lists(text: &str) -> Vec<Range<usize>> {
    let chars = Chars::new(text);
    mention_spans(&chars.chars)
        .iter()
        .map(|r| chars.bytes(r))
        .collect()
}

/// The byte ranges of the mentions and lists X links in a post: those of
/// [`mentions_or_lists`] that no URL overlaps (an `@` inside `https://medium.com/@name`
/// is the URL's), as twitter-text's `extractEntitiesWithIndices` keeps them.
pub fn linked_mentions(text: &str) -> Vec<Range<usize>> {
    scan(text)
        .into_iter()
        .filter(|e| e.kind == EntityKind::Mention)
        .map(|e| e.range)
        .collect()
}

/// The byte ranges of the hashtags in `text` (with their `#`), those overlapping a URL
/// left out.
pub fn hashtags(text: &str) -> Vec<Range<usize>> {
    let chars = Chars::new(text);
    let urls = url_spans(&chars.chars);
    let mut tags = hashtag_spans(&chars.chars);
    if !urls.is_empty() {
        let mut all: Vec<(bool, Range<usize>)> = tags
            .into_iter()
            .map(|r| (true, r))
            .chain(urls.into_iter().map(|r| (false, r)))
            .collect();
        all.sort_by_key(|(_, r)| r.start);
        tags = Vec::new();
        let mut last_end = None;
        for (is_tag, r) in all {
            if last_end.is_some_and(|end| r.start < end) {
                continue;
            }
            last_end = Some(r.end);
            if is_tag {
                tags.push(r);
            }
        }
    }
    tags.iter().map(|r| chars.bytes(r)).collect()
}

/// A text as characters, with the byte offset of each.
struct Chars {
    chars: Vec<char>,
    /// `offsets[i]`: byte offset of `chars[i]`; one more entry for the end.
    offsets: Vec<usize>,
}

impl Chars {
    fn new(text: &str) -> Self {
        let mut chars = Vec::with_capacity(text.len());
        let mut offsets = Vec::with_capacity(text.len() + 1);
        for (b, c) in text.char_indices() {
            chars.push(c);
            offsets.push(b);
        }
        offsets.push(text.len());
        Chars { chars, offsets }
    }

    fn bytes(&self, r: &Range<usize>) -> Range<usize> {
        self.offsets[r.start]..self.offsets[r.end]
    }
}

/// A byte range widened to the grapheme cluster boundaries in `bounds` (sorted, from
/// `0` to the text's length).
fn widen(bounds: &[usize], r: &Range<usize>) -> Range<usize> {
    let start = match bounds.binary_search(&r.start) {
        Ok(_) => r.start,
        Err(k) => bounds[k.saturating_sub(1)],
    };
    let end = match bounds.binary_search(&r.end) {
        Ok(_) => r.end,
        Err(k) => bounds.get(k).copied().unwrap_or(r.end),
    };
    start..end
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

// ---------------------------------------------------------------------------------
// URLs

/// Longest URL twitter-text accepts, counted with a scheme and the host punycoded.
const MAX_URL_LENGTH: usize = 4096;
/// Longest t.co slug.
const MAX_TCO_SLUG_LENGTH: usize = 40;
/// Longest DNS label, punycoded.
const MAX_LABEL_LENGTH: usize = 63;

fn is_space(c: char) -> bool {
    matches!(c, '\u{9}'..='\u{D}' | ' ' | '\u{85}' | '\u{A0}' | '\u{1680}' | '\u{180E}'
        | '\u{2000}'..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

/// Characters X never accepts in a post.
pub(crate) fn is_invalid(c: char) -> bool {
    matches!(c, '\u{FFFE}' | '\u{FEFF}' | '\u{FFFF}')
}

fn is_directional(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2066}'..='\u{2069}')
}

/// A character of a host label: anything but ASCII punctuation, spaces, directional
/// marks and the invalid characters (so CJK, Arabic or emoji hosts are hosts).
fn is_domain_char(c: char) -> bool {
    !("!'#%&()*+,\\-./:;<=>?@[]^_{|}~$".contains(c)
        || is_space(c)
        || is_invalid(c)
        || is_directional(c))
}

/// A character allowed right before a URL.
fn may_precede_url(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, '@' | '＠' | '$' | '#' | '＃') || is_invalid(c))
}

fn is_latin_accent(c: char) -> bool {
    matches!(c, '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{FF}'
        | '\u{100}'..='\u{24F}' | '\u{253}' | '\u{254}' | '\u{256}' | '\u{257}' | '\u{259}'
        | '\u{25B}' | '\u{263}' | '\u{268}' | '\u{26F}' | '\u{272}' | '\u{289}' | '\u{28B}'
        | '\u{2BB}' | '\u{300}'..='\u{36F}' | '\u{1E00}'..='\u{1EFF}')
}

fn is_cyrillic(c: char) -> bool {
    ('\u{400}'..='\u{4FF}').contains(&c)
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!*';:=+,.$/%#[]-\u{2013}_~@|&".contains(c)
        || is_cyrillic(c)
        || is_latin_accent(c)
}

/// Characters a path may end with (others are trailing punctuation).
fn is_path_end(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+-=_#/".contains(c) || is_cyrillic(c) || is_latin_accent(c)
}

fn is_query_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!?*'@();:&=+$/%#[]-_.,~|".contains(c)
}

fn is_query_end(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_&=#/".contains(c)
}

/// One match of twitter-text's URL pattern, in char indices.
struct UrlMatch {
    url: Range<usize>,
    scheme: bool,
    host: Range<usize>,
    path: bool,
}

/// Runs of label characters (host characters, `-`, `_`), precomputed so that trying a
/// host at every position stays linear.
struct Labels {
    /// `run_end[i]`: where the run of label characters from `i` ends.
    run_end: Vec<usize>,
    /// `underscores[i]`: `_` among the first `i` characters.
    underscores: Vec<usize>,
    /// `memo[i]`: the host end from `i` once known (`Some(None)`: no host).
    memo: Vec<Option<Option<usize>>>,
}

impl Labels {
    fn new(chars: &[char]) -> Self {
        let n = chars.len();
        let mut run_end = vec![n; n + 1];
        for i in (0..n).rev() {
            let c = chars[i];
            run_end[i] = if is_domain_char(c) || c == '-' || c == '_' {
                run_end[i + 1]
            } else {
                i
            };
        }
        let mut underscores = Vec::with_capacity(n + 1);
        underscores.push(0);
        for &c in chars {
            underscores.push(underscores.last().copied().unwrap_or(0) + usize::from(c == '_'));
        }
        Labels {
            run_end,
            underscores,
            memo: vec![None; n + 1],
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Labels [`host_at`] has looked at on this thread: the work a test can count
    /// instead of timing it.
    pub(crate) static HOST_STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Where a host starting at `at` ends: labels of host characters with `-` and `_`
/// inside (not at their edges; no `_` in the label before the TLD), each followed by
/// a dot, then a TLD. The most labels that still leave a TLD after them win, so the
/// answer from `at` is the answer from the next label if there is one, else whether a
/// TLD follows this label; answers are remembered per position, which keeps trying a
/// host at every position of a long text linear.
fn host_at(chars: &[char], labels: &mut Labels, at: usize) -> Option<usize> {
    let n = chars.len();
    // The chain of labels from `at` up to the first one already answered.
    let mut chain: Vec<Range<usize>> = Vec::new();
    let mut i = at;
    let mut known = None;
    while i < n {
        #[cfg(test)]
        HOST_STEPS.with(|s| s.set(s.get() + 1));
        if let Some(answer) = labels.memo[i] {
            known = answer;
            break;
        }
        let end = labels.run_end[i];
        let valid = end > i
            && is_domain_char(chars[i])
            && is_domain_char(chars[end - 1])
            && chars.get(end) == Some(&'.');
        if !valid {
            labels.memo[i] = Some(None);
            break;
        }
        chain.push(i..end);
        i = end + 1;
    }
    for name in chain.iter().rev() {
        if known.is_none() && labels.underscores[name.end] == labels.underscores[name.start] {
            let t = name.end + 1;
            known = tld::tld_at(chars, t, n)
                .or_else(|| punycode_tld_at(chars, t, n))
                .map(|len| t + len);
        }
        labels.memo[name.start] = Some(known);
    }
    if chain.is_empty() {
        known
    } else {
        labels.memo[at].flatten()
    }
}

/// `xn--` and letters, digits and `-`: a punycoded TLD.
fn punycode_tld_at(chars: &[char], at: usize, limit: usize) -> Option<usize> {
    let prefix = chars.get(at..at + 4)?;
    if at + 4 > limit
        || !prefix
            .iter()
            .map(char::to_ascii_lowercase)
            .eq("xn--".chars())
    {
        return None;
    }
    let rest = chars[at + 4..limit]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '-')
        .count();
    (rest > 0).then_some(4 + rest)
}

fn starts_with_ci(chars: &[char], at: usize, word: &str) -> bool {
    let mut k = at;
    for w in word.chars() {
        match chars.get(k) {
            Some(c) if c.to_ascii_lowercase() == w => k += 1,
            _ => return false,
        }
    }
    true
}

/// The end of a path starting after its `/`: path characters and balanced
/// parentheses, ending on a path-ending character or a closing parenthesis.
fn path_end(chars: &[char], at: usize) -> usize {
    let mut i = at;
    let mut last = at;
    loop {
        match chars.get(i) {
            Some(&c) if is_path_char(c) => {
                i += 1;
                if is_path_end(c) {
                    last = i;
                }
            }
            Some('(') => match balanced_parens(chars, i) {
                Some(end) => {
                    i = end;
                    last = i;
                }
                None => break,
            },
            _ => break,
        }
    }
    last
}

/// `(…)` with path characters inside, one nested pair allowed: returns its end.
fn balanced_parens(chars: &[char], open: usize) -> Option<usize> {
    let run = |from: usize| {
        from + chars[from.min(chars.len())..]
            .iter()
            .take_while(|c| is_path_char(**c))
            .count()
    };
    let j = run(open + 1);
    match chars.get(j) {
        Some(')') if j > open + 1 => Some(j + 1),
        Some('(') => {
            let k = run(j + 1);
            if k == j + 1 || chars.get(k) != Some(&')') {
                return None;
            }
            let m = run(k + 1);
            (chars.get(m) == Some(&')')).then_some(m + 1)
        }
        _ => None,
    }
}

/// The end of a query starting after its `?`, if it holds a query-ending character.
fn query_end(chars: &[char], at: usize, limit: usize) -> Option<usize> {
    let mut last = None;
    for (i, &c) in chars[at.min(limit)..limit].iter().enumerate() {
        if !is_query_char(c) {
            break;
        }
        if is_query_end(c) {
            last = Some(at + i + 1);
        }
    }
    last
}

/// twitter-text's URL pattern at `at`: scheme, host, port, path, query.
fn url_match_at(chars: &[char], labels: &mut Labels, at: usize) -> Option<UrlMatch> {
    let scheme = if starts_with_ci(chars, at, "https://") {
        8
    } else if starts_with_ci(chars, at, "http://") {
        7
    } else {
        0
    };
    let (host_start, host_end) = match host_at(chars, labels, at + scheme) {
        Some(end) => (at + scheme, end),
        None if scheme > 0 => (at, host_at(chars, labels, at)?),
        None => return None,
    };
    let n = chars.len();
    let mut end = host_end;
    if chars.get(end) == Some(&':') && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
        end += 1;
        while chars.get(end).is_some_and(char::is_ascii_digit) {
            end += 1;
        }
    }
    let path = chars.get(end) == Some(&'/');
    if path {
        end = path_end(chars, end + 1);
    }
    if chars.get(end) == Some(&'?') {
        if let Some(q) = query_end(chars, end + 1, n) {
            end = q;
        }
    }
    Some(UrlMatch {
        url: at..end,
        scheme: host_start > at,
        host: host_start..host_end,
        path,
    })
}

/// The leftmost URL match at or after `from`, with the character before it (`None`
/// at the start of the text).
fn next_url_match(
    chars: &[char],
    labels: &mut Labels,
    from: usize,
) -> Option<(Option<char>, UrlMatch)> {
    for p in from..chars.len() {
        if may_precede_url(chars[p]) {
            if let Some(m) = url_match_at(chars, labels, p + 1) {
                return Some((Some(chars[p]), m));
            }
        }
        if p == 0 {
            if let Some(m) = url_match_at(chars, labels, 0) {
                return Some((None, m));
            }
        }
    }
    None
}

/// The ASCII hosts inside a host (`[-a-z0-9À-ỿ]+` labels, a dot after each, a TLD),
/// leftmost first, never overlapping.
fn ascii_hosts(chars: &[char], host: &Range<usize>) -> Vec<Range<usize>> {
    let is_label = |c: char| c.is_ascii_alphanumeric() || c == '-' || is_latin_accent(c);
    let limit = host.end;
    let mut found = Vec::new();
    let mut k = host.start;
    'search: while k < limit {
        let mut ends = Vec::new();
        let mut i = k;
        loop {
            let end = i + chars[i..limit].iter().take_while(|c| is_label(**c)).count();
            if end == i || end >= limit || chars[end] != '.' {
                break;
            }
            ends.push(end);
            i = end + 1;
        }
        for &dot in ends.iter().rev() {
            let t = dot + 1;
            if t >= limit {
                continue;
            }
            if let Some(len) =
                tld::tld_at(chars, t, limit).or_else(|| punycode_tld_at(chars, t, limit))
            {
                found.push(k..t + len);
                k = t + len;
                continue 'search;
            }
        }
        k += 1;
    }
    found
}

/// twitter-text's `isValidUrl`: every label of the host 1 to 63 characters once
/// punycoded, the URL at most 4096 UTF-16 units.
fn acceptable(chars: &[char], m: &UrlMatch) -> bool {
    let host: String = chars[m.host.clone()].iter().collect();
    if host.starts_with("xn--") && ascii_hosts(chars, &m.host).is_empty() {
        return false;
    }
    for label in host.split('.') {
        // punycode.js's toASCII also splits at the ideographic and full-width stops.
        let mut len = 0;
        for (j, part) in label
            .split(['\u{3002}', '\u{FF0E}', '\u{FF61}'])
            .enumerate()
        {
            len += usize::from(j > 0);
            len += if part.is_ascii() {
                part.len()
            } else {
                match idna::punycode::encode_str(part) {
                    Some(p) => "xn--".len() + p.len(),
                    None => return false,
                }
            };
        }
        if len == 0 || len > MAX_LABEL_LENGTH {
            return false;
        }
    }
    // twitter-text adds the scheme's length again (or `https://`'s, without one).
    let scheme = if m.scheme {
        m.host.start - m.url.start
    } else {
        "https://".len()
    };
    let url_len: usize = chars[m.url.clone()].iter().map(|c| c.len_utf16()).sum();
    scheme + url_len <= MAX_URL_LENGTH
}

/// A t.co link ends after its slug and query: `Some(end)`, or `Err` when its slug is
/// too long to be one. `None` when the URL is no t.co link.
fn tco_end(chars: &[char], url: &Range<usize>) -> Option<Result<usize, ()>> {
    let at = url.start;
    let after = if starts_with_ci(chars, at, "https://t.co/") {
        at + 13
    } else if starts_with_ci(chars, at, "http://t.co/") {
        at + 12
    } else {
        return None;
    };
    let slug = chars[after.min(url.end)..url.end]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if slug == 0 {
        return None;
    }
    if slug > MAX_TCO_SLUG_LENGTH {
        return Some(Err(()));
    }
    let mut end = after + slug;
    if chars.get(end) == Some(&'?') && end < url.end {
        if let Some(q) = query_end(chars, end + 1, url.end) {
            end = q;
        }
    }
    Some(Ok(end))
}

/// URL spans as char-index ranges, as twitter-text's `extractUrlsWithIndices` finds
/// them.
fn url_spans(chars: &[char]) -> Vec<Range<usize>> {
    if !chars.contains(&'.') {
        return Vec::new();
    }
    let mut labels = Labels::new(chars);
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some((before, m)) = next_url_match(chars, &mut labels, from) {
        from = m.url.end;
        if !acceptable(chars, &m) {
            continue;
        }
        if m.scheme {
            match tco_end(chars, &m.url) {
                Some(Err(())) => {}
                Some(Ok(end)) => spans.push(m.url.start..end),
                None => spans.push(m.url.clone()),
            }
            continue;
        }
        if before.is_some_and(|c| matches!(c, '-' | '_' | '.' | '/')) {
            continue;
        }
        let mut hosts = ascii_hosts(chars, &m.host);
        if m.path {
            if let Some(last) = hosts.last_mut() {
                last.end = m.url.end;
            }
        }
        spans.extend(hosts);
    }
    spans
}

// ---------------------------------------------------------------------------------
// Mentions and hashtags

fn is_ascii_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_at_sign(c: char) -> bool {
    matches!(c, '@' | '＠')
}

/// Whether a mention's `@` at `at` may follow what precedes it (from `from` on: the
/// text before `from` belongs to the previous match): the start of the text, a
/// character other than a word character or one of `!#$%&*@＠`, or `RT`/`RT:` (any case)
/// themselves after the start or a character other than a word character or `+~.-`.
fn mention_may_start(chars: &[char], from: usize, at: usize) -> bool {
    if at == 0 {
        return from == 0;
    }
    if at > from && !(is_ascii_word(chars[at - 1]) || "!#$%&*@＠".contains(chars[at - 1])) {
        return true;
    }
    let rt_end = if chars[at - 1] == ':' { at - 1 } else { at };
    if rt_end < from + 2
        || !chars[rt_end - 2].eq_ignore_ascii_case(&'r')
        || !chars[rt_end - 1].eq_ignore_ascii_case(&'t')
    {
        return false;
    }
    let rt = rt_end - 2;
    rt == 0 || (rt > from && !(is_ascii_word(chars[rt - 1]) || "+~.-".contains(chars[rt - 1])))
}

/// Mention and list spans (char indices) as twitter-text's
/// `extractMentionsOrListsWithIndices` finds them.
fn mention_spans(chars: &[char]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    let mut at = 0;
    while at < chars.len() {
        if !is_at_sign(chars[at]) || !mention_may_start(chars, from, at) {
            at += 1;
            continue;
        }
        let name = chars[at + 1..]
            .iter()
            .take(20)
            .take_while(|c| is_ascii_word(**c))
            .count();
        if name == 0 {
            at += 1;
            continue;
        }
        let start = at;
        let mut end = at + 1 + name;
        if chars.get(end) == Some(&'/') && chars.get(end + 1).is_some_and(char::is_ascii_alphabetic)
        {
            let slug = chars[end + 2..]
                .iter()
                .take(24)
                .take_while(|c| is_ascii_word(**c) || **c == '-')
                .count();
            end += 2 + slug;
        }
        from = end;
        at = end;
        let after = &chars[end..];
        let ends_badly = after
            .first()
            .is_some_and(|&c| is_at_sign(c) || is_latin_accent(c))
            || after.starts_with(&[':', '/', '/']);
        if !ends_badly {
            spans.push(start..end);
        }
    }
    spans
}

/// Letters and marks, as in twitter-text's hashtag alphabet.
fn is_hashtag_alpha(c: char) -> bool {
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Mark
    )
}

fn is_hashtag_alnum(c: char) -> bool {
    is_hashtag_alpha(c)
        || c.general_category() == unicode_properties::GeneralCategory::DecimalNumber
        || matches!(
            c,
            '_' | '\u{200C}'
                | '\u{200D}'
                | '\u{A67E}'
                | '\u{05BE}'
                | '\u{05F3}'
                | '\u{05F4}'
                | '\u{FF5E}'
                | '\u{301C}'
                | '\u{309B}'
                | '\u{309C}'
                | '\u{30A0}'
                | '\u{30FB}'
                | '\u{3003}'
                | '\u{0F0B}'
                | '\u{0F0C}'
                | '\u{B7}'
        )
}

fn is_hash_sign(c: char) -> bool {
    matches!(c, '#' | '＃')
}

/// Hashtag spans (char indices) as twitter-text's `extractHashtagsWithIndices` finds
/// them, before URL overlaps are removed.
fn hashtag_spans(chars: &[char]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    let mut at = 0;
    while at < chars.len() {
        let boundary = if at == 0 {
            from == 0
        } else {
            let prev = chars[at - 1];
            at > from
                && (matches!(prev, '\u{FE0E}' | '\u{FE0F}')
                    || !(is_hashtag_alnum(prev) || prev == '&'))
        };
        let next = chars.get(at + 1).copied();
        if !is_hash_sign(chars[at])
            || !boundary
            || next.is_some_and(|c| matches!(c, '\u{FE0F}' | '\u{20E3}'))
        {
            at += 1;
            continue;
        }
        let run = chars[at + 1..]
            .iter()
            .take_while(|c| is_hashtag_alnum(**c))
            .count();
        let end = at + 1 + run;
        if !chars[at + 1..end].iter().any(|c| is_hashtag_alpha(*c)) {
            at += 1;
            continue;
        }
        from = end;
        let after = &chars[end..];
        let ends_badly =
            after.first().is_some_and(|&c| is_hash_sign(c)) || after.starts_with(&[':', '/', '/']);
        if !ends_badly {
            spans.push(at..end);
        }
        at = end;
    }
    spans
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
        assert!(url_strings("abchttp://example.com").is_empty());
    }

    #[test]
    fn hosts_in_any_script() {
        assert_eq!(url_strings("看 http://ああ.com 好"), ["http://ああ.com"]);
        assert_eq!(
            url_strings("http://twitter.中国/x"),
            ["http://twitter.中国/x"]
        );
        assert_eq!(url_strings("пример.рф"), Vec::<&str>::new());
        assert_eq!(url_strings("twitter.рф"), ["twitter.рф"]);
        let long = format!("{}https://例子.com/a/very/long/path", "春".repeat(5));
        assert_eq!(url_strings(&long), ["https://例子.com/a/very/long/path"]);
    }

    #[test]
    fn a_label_over_63_characters_is_no_url() {
        let label = "a".repeat(64);
        assert!(url_strings(&format!("{label}.com")).is_empty());
        assert_eq!(url_strings(&format!("{}.com", &label[1..])).len(), 1);
    }

    #[test]
    fn tco_links_end_after_their_slug() {
        assert_eq!(
            url_strings("http://t.co/pbY2NfTZ's"),
            ["http://t.co/pbY2NfTZ"]
        );
        let slug = "a".repeat(41);
        assert!(url_strings(&format!("https://t.co/{slug}")).is_empty());
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
        assert_eq!(url_strings("example.com, and"), ["example.com"]);
    }

    #[test]
    fn urls_stop_at_cjk_and_full_width_punctuation() {
        assert_eq!(
            url_strings("看这个https://example.com/a很好"),
            ["https://example.com/a"]
        );
        assert_eq!(
            url_strings("链接：https://example.com/a，谢谢"),
            ["https://example.com/a"]
        );
        assert_eq!(
            url_strings("これは日本語です。example.com/path/index.html中国語example.com/path한국"),
            ["example.com/path/index.html", "example.com/path"]
        );
    }

    #[test]
    fn bare_urls_need_a_known_tld() {
        assert_eq!(
            url_strings("foo.baz foo.co.jp www.foo.co.uk foo.comm foo.jp bit.ly/abc"),
            ["foo.co.jp", "www.foo.co.uk", "foo.jp", "bit.ly/abc"]
        );
        assert_eq!(url_strings("pizza.restaurant"), ["pizza.restaurant"]);
        assert!(url_strings("e.g. Node.js test.tar.bz2 3.14").is_empty());
        assert!(url_strings("john.doe.jp@mail.com").is_empty());
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
        assert_eq!(
            entities("@user/list-1 ok"),
            [(EntityKind::Mention, "@user/list-1")]
        );
        assert_eq!(entities("#123 #_1 #_a1"), [(EntityKind::Hashtag, "#_a1")]);
        assert_eq!(entities("话#题"), []);
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
        // `q` + combining enclosing circle: the URL ends before the mark, its last
        // grapheme is `q⃝`.
        let text = "x https://example.com/q\u{20DD} y";
        let e = scan(text);
        assert_eq!(e.len(), 1);
        assert_eq!(&text[e[0].range.clone()], "https://example.com/q\u{20DD}");
        assert_eq!(&text[urls(text)[0].clone()], "https://example.com/q");
    }
}
