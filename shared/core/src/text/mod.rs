//! Adapting a post's text to each network: X's weighted length, splitting into a
//! numbered thread, truncation, and Facebook's character limit. Pure functions.
//!
//! - [`x::weighted_length`] counts like twitter-text v3; [`x::adapt_for_x`] and
//!   [`facebook::adapt_for_facebook`] apply an [`Overflow`] policy and return [`Part`]s.
//! - [`split_thread`] and [`truncate`] work with any weighing function; [`rejoins_to`]
//!   checks that a thread loses nothing but whitespace at its cuts.
//! - [`entities`] finds URLs, @mentions, #hashtags and emoji sequences, which a cut
//!   never splits.
//!
//! Every function normalises its input to NFC first; adaptation also trims leading and
//! trailing whitespace (the networks drop it anyway) and removes U+FEFF, U+FFFE and
//! U+FFFF (X refuses a post holding one; none of them shows).
//!
//! The X rules are checked against twitter-text's conformance suite
//! (`tests/twitter_text_conformance.rs`); [`tld`] is generated from its domain list.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

pub mod bluesky;
pub mod entities;
pub mod facebook;
pub mod mentions;
mod split;
pub mod tld;
pub mod x;

/// The overflow policy is the post's own field ([`crate::post::Overflow`]: `thread`,
/// the default, `truncate` or `reject`); re-exported here for convenience.
pub use crate::post::Overflow;
pub use split::{rejoins_to, split_thread, truncate, LimitTooSmall};

use std::ops::Range;

/// One post to publish: its text and its length as the network counts it (X's
/// weighted length, or Facebook's character count).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub text: String,
    pub weighted_length: usize,
}

/// The text is longer than the network allows (policy `reject`, or nothing could be
/// made to fit). The delivery fails with reason [`ContentTooLong::REASON`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct ContentTooLong {
    pub weighted_length: usize,
    pub limit: usize,
    /// How much of `weighted_length` the network's rendering added to the text as
    /// written: the word joiners `mentions: plain` puts after an @ (X counts each 2).
    pub added_by_mentions: usize,
}

impl std::fmt::Display for ContentTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "content_too_long: weighted length {} exceeds {}",
            self.weighted_length, self.limit
        )?;
        if self.added_by_mentions > 0 {
            write!(
                f,
                " ({} of it from the word joiners that `mentions: plain` puts after each @ \
                 so that no name becomes a mention; `mentions: keep` leaves the text as written)",
                self.added_by_mentions
            )?;
        }
        Ok(())
    }
}

impl ContentTooLong {
    /// The failure reason recorded on the delivery.
    pub const REASON: &'static str = "content_too_long";
}

/// `text` in Unicode Normalization Form C, borrowed when it already is.
pub fn nfc(text: &str) -> Cow<'_, str> {
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => Cow::Owned(text.nfc().collect()),
    }
}

/// Applies an overflow policy for a network with the given limit and measure.
/// `threads`: whether the network has threads (otherwise `Thread` acts as `Truncate`).
/// `render` turns a piece of the text into what the network gets (see [`mentions`]);
/// parts are cut from the text as given, so a cut never falls inside what `render`
/// adds, and weighed as rendered. No cut falls inside the ranges `whole` gives for the
/// prepared text (the network's own links, when it finds them otherwise than X).
#[allow(clippy::too_many_arguments)]
fn adapt(
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
    limit: usize,
    threads: bool,
    measure: impl Fn(&str) -> usize + Copy,
    render: impl Fn(&str) -> String + Copy,
    whole: impl Fn(&str) -> Vec<Range<usize>> + Copy,
) -> Result<Vec<Part>, ContentTooLong> {
    let weigh = move |s: &str| measure(&render(s));
    let text = split::prepare(text);
    let total = weigh(&text);
    let part = |text: String| {
        let text = render(&text);
        Part {
            weighted_length: measure(&text),
            text,
        }
    };
    if total <= limit {
        return Ok(vec![part(text)]);
    }
    let too_long = |_: LimitTooSmall| ContentTooLong {
        weighted_length: total,
        added_by_mentions: total.saturating_sub(measure(&text)),
        limit,
    };
    match overflow {
        Overflow::Reject => Err(too_long(LimitTooSmall { limit })),
        Overflow::Thread if threads => Ok(split::split_thread_keeping(&text, limit, weigh, whole)
            .map_err(too_long)?
            .into_iter()
            .map(part)
            .collect()),
        Overflow::Thread | Overflow::Truncate => {
            let tail = match link.map(str::trim).filter(|l| !l.is_empty()) {
                Some(link) => format!("… {link}"),
                None => "…".to_string(),
            };
            let cut =
                split::truncate_keeping(&text, limit, &tail, weigh, whole).map_err(too_long)?;
            Ok(vec![part(cut)])
        }
    }
}
