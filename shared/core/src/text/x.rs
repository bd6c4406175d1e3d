//! X (Twitter): the twitter-text weighted length and adaptation to 280.
//!
//! [`parse`] is twitter-text's `parseTweet` for any [`Config`]: [`Config::V3`] is what
//! X applies today, [`Config::V2`] the same without emoji parsing, [`Config::V1`] the
//! old 140-character count. After NFC, with V3,
//! - every URL (see [`super::entities`]) weighs [`URL_WEIGHT`] whatever its length;
//! - every emoji sequence (ZWJ family, skin tone, flag, keycap, `❤️`…) weighs 2 in total;
//! - every other code point weighs 1 in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and
//!   U+2032–U+2037, and 2 anywhere else (CJK, full-width punctuation, `…`…);
//! - U+FFFE, U+FFFF and U+FEFF make a text invalid.
//!
//! twitter-text counts in units of 1/`scale`; [`weighted_length`] and [`Parsed`] report
//! whole units (the limit is 280), exact since every V3 weight is a multiple of `scale`.

use unicode_segmentation::UnicodeSegmentation;

use super::{adapt, entities, nfc, ContentTooLong, Overflow, Part};

pub mod validate;

/// The most a post may weigh.
pub const MAX_WEIGHTED_LENGTH: usize = 280;
/// What a URL weighs, whatever its length (the length of a t.co link).
pub const URL_WEIGHT: usize = 23;
/// What an emoji sequence weighs.
pub const EMOJI_WEIGHT: usize = 2;

/// A twitter-text counting configuration (its `config/v*.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub max_weighted_length: usize,
    /// Weights are in units of `1/scale`.
    pub scale: usize,
    /// The weight of a code point outside `ranges`, and of an emoji sequence.
    pub default_weight: usize,
    /// Inclusive code point ranges and their weight.
    pub ranges: &'static [(u32, u32, usize)],
    pub emoji_parsing: bool,
    /// What a URL counts, in whole units.
    pub url_length: usize,
}

const V2_V3_RANGES: &[(u32, u32, usize)] = &[
    (0x0000, 0x10FF, 100),
    (0x2000, 0x200D, 100),
    (0x2010, 0x201F, 100),
    (0x2032, 0x2037, 100),
];

impl Config {
    /// twitter-text `config/v3.json`: what X counts today.
    pub const V3: Config = Config {
        max_weighted_length: MAX_WEIGHTED_LENGTH,
        scale: 100,
        default_weight: 200,
        ranges: V2_V3_RANGES,
        emoji_parsing: true,
        url_length: URL_WEIGHT,
    };
    /// twitter-text `config/v2.json`: V3 without emoji parsing (an emoji sequence weighs
    /// each of its code points).
    pub const V2: Config = Config {
        emoji_parsing: false,
        ..Config::V3
    };
    /// twitter-text `config/v1.json`: every code point 1, 140 at most.
    pub const V1: Config = Config {
        max_weighted_length: 140,
        scale: 1,
        default_weight: 1,
        ranges: &[],
        emoji_parsing: false,
        url_length: URL_WEIGHT,
    };

    fn weight(&self, c: char) -> usize {
        // twitter-text weighs a character outside the BMP by its low surrogate, which no
        // range holds.
        let unit = if c.len_utf16() == 2 { 0xDC00 } else { c as u32 };
        self.ranges
            .iter()
            .find(|(start, end, _)| (*start..=*end).contains(&unit))
            .map_or(self.default_weight, |r| r.2)
    }
}

/// What twitter-text's `parseTweet` reports. Indices count UTF-16 code units of the text
/// as given (before NFC), like twitter-text's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub weighted_length: usize,
    /// Within the limit, not empty, and without U+FFFE, U+FFFF or U+FEFF.
    pub valid: bool,
    /// Weighted length per thousand of the limit, rounded down.
    pub permillage: usize,
    /// Index of the last code unit that is still within the limit (inclusive).
    pub valid_range_end: usize,
    /// Index of the last code unit (inclusive; 0 for an empty text).
    pub display_range_end: usize,
}

/// The weight of one code point outside URLs and emoji sequences (V3).
pub fn code_point_weight(c: char) -> usize {
    Config::V3.weight(c) / Config::V3.scale
}

/// twitter-text's `parseTweet`: the weighted length and validity of `text`.
pub fn parse(text: &str, config: &Config) -> Parsed {
    let normalized = nfc(text);
    let normalized: &str = &normalized;
    // Entities by start, in byte offsets of the normalized text.
    let mut starts: Vec<(usize, usize, bool)> = entities::urls(normalized)
        .into_iter()
        .map(|r| (r.start, r.end, true))
        .collect();
    if config.emoji_parsing {
        starts.extend(
            normalized
                .grapheme_indices(true)
                .filter(|(_, g)| entities::is_emoji_cluster(g))
                .map(|(b, g)| (b, b + g.len(), false)),
        );
    }
    starts.sort_by_key(|&(start, _, is_url)| (start, !is_url));
    let mut next = starts.iter().peekable();

    let limit = config.max_weighted_length * config.scale;
    let mut weighted = 0;
    let mut valid = true;
    let mut valid_index: usize = 0;
    let mut unit = 0; // UTF-16 index of the current character
    let mut chars = normalized.char_indices().peekable();
    while let Some(&(b, c)) = chars.peek() {
        while next.peek().is_some_and(|e| e.0 < b) {
            next.next();
        }
        let (weight, end) = match next.peek() {
            Some(&&(start, end, is_url)) if start == b => {
                next.next();
                let w = if is_url {
                    config.url_length * config.scale
                } else {
                    config.default_weight
                };
                (w, end)
            }
            _ => (config.weight(c), b + c.len_utf8()),
        };
        let mut last = c;
        while chars.peek().is_some_and(|&(k, _)| k < end) {
            let (_, ch) = chars.next().unwrap_or((end, c));
            unit += ch.len_utf16();
            last = ch;
        }
        weighted += weight;
        let last_unit = unit - 1;
        if valid {
            valid = !entities::is_invalid(last);
        }
        if valid && weighted <= limit {
            valid_index = last_unit;
        }
    }
    let weighted_length = weighted / config.scale;
    let original_len: usize = text.encode_utf16().count();
    Parsed {
        weighted_length,
        valid: valid && weighted > 0 && weighted <= limit,
        permillage: weighted * 1000 / limit,
        valid_range_end: (valid_index + original_len).saturating_sub(unit),
        display_range_end: original_len.saturating_sub(1),
    }
}

/// X's weighted length of `text` (twitter-text v3, in units where the limit is 280).
pub fn weighted_length(text: &str) -> usize {
    parse(text, &Config::V3).weighted_length
}

/// Adapts a text for X. Within [`MAX_WEIGHTED_LENGTH`]: one part, no numbering, under
/// every policy. Over it: `Thread` splits into parts numbered ` (i/n)`; `Truncate` cuts
/// at the best boundary and appends `…` and, when `link` is given, a space and the link,
/// all within 280; `Reject` fails with the weighted length.
pub fn adapt_for_x(
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
) -> Result<Vec<Part>, ContentTooLong> {
    adapt_for_x_with(text, link, overflow, crate::Mentions::Keep)
}

/// [`adapt_for_x`] with a mentions policy: under `Plain` every part's mentions are
/// joined ([`super::mentions::plain_for_x`]) and weighed so.
pub fn adapt_for_x_with(
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
    mentions: crate::Mentions,
) -> Result<Vec<Part>, ContentTooLong> {
    adapt(
        text,
        link,
        overflow,
        MAX_WEIGHTED_LENGTH,
        true,
        weighted_length,
        move |s: &str| super::mentions::for_network(crate::Network::X, s, mentions).into_owned(),
        |_: &str| Vec::new(),
    )
}

#[cfg(test)]
mod tests;
