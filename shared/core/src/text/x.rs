//! X (Twitter): the twitter-text v3 weighted length and adaptation to 280.
//!
//! twitter-text v3 counts in units of 1/100 (`scale` 100, limit 28,000); this module
//! counts in whole units (limit 280): after NFC,
//! - every URL (see [`super::entities`]) weighs [`URL_WEIGHT`] whatever its length;
//! - every emoji sequence (ZWJ family, skin tone, flag, keycap, `❤️`…) weighs 2 in total;
//! - every other code point weighs 1 in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and
//!   U+2032–U+2037, and 2 anywhere else (CJK, full-width punctuation, `…`…).

use unicode_segmentation::UnicodeSegmentation;

use super::{adapt, entities, nfc, ContentTooLong, Overflow, Part};

/// The most a post may weigh.
pub const MAX_WEIGHTED_LENGTH: usize = 280;
/// What a URL weighs, whatever its length (the length of a t.co link).
pub const URL_WEIGHT: usize = 23;
/// What an emoji sequence weighs.
pub const EMOJI_WEIGHT: usize = 2;

/// The weight of one code point outside URLs and emoji sequences.
pub fn code_point_weight(c: char) -> usize {
    match c {
        '\u{0000}'..='\u{10FF}'
        | '\u{2000}'..='\u{200D}'
        | '\u{2010}'..='\u{201F}'
        | '\u{2032}'..='\u{2037}' => 1,
        _ => 2,
    }
}

/// The weight of text that holds no URL.
fn plain_weight(text: &str) -> usize {
    text.graphemes(true)
        .map(|g| {
            if entities::is_emoji_cluster(g) {
                EMOJI_WEIGHT
            } else {
                g.chars().map(code_point_weight).sum()
            }
        })
        .sum()
}

/// X's weighted length of `text` (twitter-text v3, in units where the limit is 280).
pub fn weighted_length(text: &str) -> usize {
    let text = nfc(text);
    if !text.contains('.') {
        // Every URL has a dot in its host.
        return plain_weight(&text);
    }
    let mut total = 0;
    let mut last = 0;
    for url in entities::urls(&text) {
        total += plain_weight(&text[last..url.start]) + URL_WEIGHT;
        last = url.end;
    }
    total + plain_weight(&text[last..])
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
    adapt(
        text,
        link,
        overflow,
        MAX_WEIGHTED_LENGTH,
        true,
        weighted_length,
    )
}

#[cfg(test)]
mod tests;
