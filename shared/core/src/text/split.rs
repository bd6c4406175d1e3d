//! Splitting a long text into numbered parts, and truncating it, at the best boundary.
//!
//! Both work on *atoms*: extended grapheme clusters, except that a URL, @mention,
//! #hashtag or emoji sequence (see [`super::entities`]) is one atom. A cut is only ever
//! made between atoms, and only where the next part would start with a non-whitespace
//! character: whitespace at a cut is trimmed from the end of the part before it and
//! dropped from the start of the next one.
//!
//! Among the cuts that fit, the best is chosen by [`Boundary`] class (paragraph break >
//! line break > sentence end > clause > whitespace > grapheme), the rightmost of the best
//! class. So that a thread is not made of needlessly short parts, a cut of a better class
//! counts only if it leaves the part at least half as heavy as the room it had; otherwise
//! it ranks as a plain grapheme cut (and the rightmost cut wins). An atom heavier than a
//! whole part (a giant hashtag; a URL weighs 23 on X so never) is cut at its grapheme
//! boundaries, or code point boundaries as a last resort.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use super::entities;

/// The limit is too small for even one character plus the numbering or the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit {limit} is too small to hold any text")]
pub struct LimitTooSmall {
    pub limit: usize,
}

/// Kinds of cut, worst first (so `Ord` ranks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Boundary {
    Grapheme,
    Whitespace,
    Clause,
    Sentence,
    LineBreak,
    ParagraphBreak,
}

/// Sentence-ending marks that end a sentence wherever they stand.
const SENTENCE_END: &[char] = &['。', '！', '？', '．', '…', '‼', '⁇', '⁈', '⁉', '｡'];
/// ASCII sentence-ending marks: only when followed by whitespace or the end of text.
const ASCII_SENTENCE_END: &[char] = &['.', '!', '?'];
/// Clause marks that end a clause wherever they stand.
const CLAUSE_END: &[char] = &['，', '、', '；', '：', '､'];
/// ASCII clause marks: only when not followed by an ASCII letter or digit (so `1,000`
/// and `12:30` are not cut).
const ASCII_CLAUSE_END: &[char] = &[',', ';', ':'];
/// Closing quotes and brackets that stay with the punctuation before them
/// (`他说：“好。”` is cut after `”`).
const CLOSERS: &[char] = &[
    '”', '’', '」', '』', '）', ')', '】', '》', '〉', '〕', '"', '\'', ']', '］', '｝', '}',
];

/// A text cut into atoms, with their weights.
struct Layout<'a, F> {
    text: &'a str,
    /// Atom boundaries: `0`, …, `text.len()`.
    bounds: Vec<usize>,
    /// `prefix[k]`: total weight of the atoms before `bounds[k]`.
    prefix: Vec<usize>,
    weigh: &'a F,
}

impl<'a, F: Fn(&str) -> usize> Layout<'a, F> {
    /// `whole`: more ranges no cut may fall inside (a network's own links), on top of
    /// the entities.
    fn new(text: &'a str, weigh: &'a F, whole: &[Range<usize>]) -> Self {
        let mut ranges: Vec<Range<usize>> = entities::scan(text)
            .into_iter()
            .map(|e| e.range)
            .chain(whole.iter().cloned())
            .collect();
        ranges.sort_by_key(|r| r.start);
        // Overlapping ranges merged, so they stay sorted by end too.
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start < last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let mut inside = merged.iter().peekable();
        let mut bounds = Vec::new();
        for (b, _) in text.grapheme_indices(true) {
            while inside.peek().is_some_and(|r| r.end <= b) {
                inside.next();
            }
            if inside.peek().is_none_or(|r| r.start >= b) {
                bounds.push(b);
            }
        }
        if bounds.last() != Some(&text.len()) {
            bounds.push(text.len());
        }
        if bounds.first() != Some(&0) {
            bounds.insert(0, 0);
        }
        let mut layout = Layout {
            text,
            bounds,
            prefix: Vec::new(),
            weigh,
        };
        layout.reweigh();
        layout
    }

    fn reweigh(&mut self) {
        let mut sum = 0;
        self.prefix = Vec::with_capacity(self.bounds.len());
        self.prefix.push(0);
        for w in self.bounds.windows(2) {
            sum += (self.weigh)(&self.text[w[0]..w[1]]);
            self.prefix.push(sum);
        }
    }

    fn index(&self, pos: usize) -> usize {
        self.bounds.binary_search(&pos).unwrap_or_else(|k| k)
    }

    fn fits(&self, body: &str, tail: &str, limit: usize) -> bool {
        let mut s = String::with_capacity(body.len() + tail.len());
        s.push_str(body);
        s.push_str(tail);
        (self.weigh)(&s) <= limit
    }

    /// Chooses where the part starting at `pos` ends when followed by `tail`.
    /// Returns `(body_end, next_start)`.
    fn cut(
        &mut self,
        pos: usize,
        tail: &str,
        limit: usize,
    ) -> Result<(usize, usize), LimitTooSmall> {
        let tail_weight = (self.weigh)(tail);
        if tail_weight >= limit {
            return Err(LimitTooSmall { limit });
        }
        let room = limit - tail_weight;
        loop {
            let start = self.index(pos);
            // (class, body_end, cut)
            let mut window: Vec<(Boundary, usize, usize)> = Vec::new();
            let mut body_end = pos;
            for k in start + 1..self.bounds.len() {
                let (a, c) = (self.bounds[k - 1], self.bounds[k]);
                if !self.text[a..c].chars().all(char::is_whitespace) {
                    body_end = c;
                }
                let est = self.prefix[self.index(body_end)] - self.prefix[start];
                if est > room {
                    break;
                }
                if self.text[c..].starts_with(char::is_whitespace) {
                    continue;
                }
                let mut class = self.classify(body_end, c);
                if 2 * est < room {
                    class = Boundary::Grapheme;
                }
                window.push((class, body_end, c));
            }
            window.sort_by(|x, y| y.0.cmp(&x.0).then(y.2.cmp(&x.2)));
            for &(_, body_end, c) in &window {
                if self.fits(&self.text[pos..body_end], tail, limit) {
                    return Ok((body_end, c));
                }
            }
            // Nothing fits: the first atom is heavier than a whole part. Cut it finer.
            self.refine(start, limit)?;
        }
    }

    /// Replaces atom `k` by its grapheme clusters, or by its code points if it is one
    /// cluster already.
    fn refine(&mut self, k: usize, limit: usize) -> Result<(), LimitTooSmall> {
        let (a, b) = match (self.bounds.get(k), self.bounds.get(k + 1)) {
            (Some(&a), Some(&b)) => (a, b),
            _ => return Err(LimitTooSmall { limit }),
        };
        let atom = &self.text[a..b];
        let mut inner: Vec<usize> = atom
            .grapheme_indices(true)
            .map(|(i, _)| a + i)
            .filter(|&i| i > a)
            .collect();
        if inner.is_empty() {
            inner = atom
                .char_indices()
                .map(|(i, _)| a + i)
                .filter(|&i| i > a)
                .collect();
        }
        if inner.is_empty() {
            return Err(LimitTooSmall { limit });
        }
        self.bounds.splice(k + 1..k + 1, inner);
        self.reweigh();
        Ok(())
    }

    /// The class of a cut whose part body ends at `body_end` and whose next part starts
    /// at `cut` (the text between is whitespace).
    fn classify(&self, body_end: usize, cut: usize) -> Boundary {
        let gap = &self.text[body_end..cut];
        let newlines = gap.matches('\n').count();
        if newlines >= 2 {
            return Boundary::ParagraphBreak;
        }
        if newlines == 1 || gap.contains(['\u{2028}', '\u{2029}', '\r']) {
            return Boundary::LineBreak;
        }
        let spaced = !gap.is_empty() || cut == self.text.len();
        let body = self.text[..body_end].trim_end_matches(CLOSERS);
        let next = self.text[cut..].chars().next();
        if let Some(last) = body.chars().next_back() {
            if SENTENCE_END.contains(&last) || (ASCII_SENTENCE_END.contains(&last) && spaced) {
                return Boundary::Sentence;
            }
            if CLAUSE_END.contains(&last)
                || (ASCII_CLAUSE_END.contains(&last)
                    && (spaced || !next.is_some_and(|c| c.is_ascii_alphanumeric())))
            {
                return Boundary::Clause;
            }
        }
        if gap.is_empty() {
            Boundary::Grapheme
        } else {
            Boundary::Whitespace
        }
    }
}

/// The suffix of part `i` of `n`.
pub(crate) fn numbering(i: usize, n: usize) -> String {
    format!(" ({i}/{n})")
}

/// Normalises and trims the text the way every adaptation sees it, without U+FEFF
/// (a byte-order mark or zero-width no-break space), U+FFFE and U+FFFF: X refuses a post
/// holding one, and none of them shows.
pub(crate) fn prepare(text: &str) -> String {
    let text = super::nfc(text);
    let kept: String = text.chars().filter(|&c| !entities::is_invalid(c)).collect();
    kept.trim().to_string()
}

/// Splits `text` into parts of at most `limit` (as measured by `weigh`, the numbering
/// included): the byte ranges of the part bodies in `text`, which must be prepared
/// already. Numbering is ` (i/n)`; the width of `n` is found by trying 1 digit, then
/// more until the count fits the assumed width.
pub(crate) fn split_ranges<F: Fn(&str) -> usize>(
    text: &str,
    limit: usize,
    weigh: &F,
    whole: &[Range<usize>],
) -> Result<Vec<Range<usize>>, LimitTooSmall> {
    if weigh(text) <= limit {
        let all = 0..text.len();
        return Ok(vec![all]);
    }
    let mut layout = Layout::new(text, weigh, whole);
    let mut digits = 1u32;
    loop {
        let assumed = 10usize.saturating_pow(digits) - 1;
        let mut ranges = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            let tail = numbering(ranges.len() + 1, assumed);
            // Only weigh the whole remainder when its estimate says it may fit.
            let estimate =
                layout.prefix.last().copied().unwrap_or(0) - layout.prefix[layout.index(pos)];
            if estimate <= limit.saturating_mul(2) && layout.fits(&text[pos..], &tail, limit) {
                ranges.push(pos..text.len());
                break;
            }
            let (body_end, next) = layout.cut(pos, &tail, limit)?;
            ranges.push(pos..body_end);
            pos = next;
        }
        if ranges.len() <= assumed || digits >= 19 {
            return Ok(ranges);
        }
        digits += 1;
    }
}

/// Splits `text` into a thread: NFC, trimmed, greedy, every part at most `limit` as
/// measured by `weigh` *including* its ` (i/n)` suffix, which is added only when there
/// is more than one part. A text that fits is returned as one part without numbering;
/// an empty text gives one empty part.
///
/// `weigh` must be (close to) additive over concatenation, like
/// [`super::x::weighted_length`] or a character count.
pub fn split_thread(
    text: &str,
    limit: usize,
    weigh: impl Fn(&str) -> usize,
) -> Result<Vec<String>, LimitTooSmall> {
    split_thread_keeping(text, limit, weigh, |_| Vec::new())
}

/// [`split_thread`], never cutting inside the ranges `whole` gives for the prepared
/// text (a network's links, as that network finds them).
pub(crate) fn split_thread_keeping(
    text: &str,
    limit: usize,
    weigh: impl Fn(&str) -> usize,
    whole: impl Fn(&str) -> Vec<Range<usize>>,
) -> Result<Vec<String>, LimitTooSmall> {
    let text = prepare(text);
    let ranges = split_ranges(&text, limit, &weigh, &whole(&text))?;
    let n = ranges.len();
    Ok(ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if n > 1 {
                format!("{}{}", &text[r], numbering(i + 1, n))
            } else {
                text[r].to_string()
            }
        })
        .collect())
}

/// Truncates `text` (NFC, trimmed) to at most `limit` with `tail` appended, cutting at
/// the best boundary as [`split_thread`] does. A text that fits is returned unchanged,
/// without the tail.
pub fn truncate(
    text: &str,
    limit: usize,
    tail: &str,
    weigh: impl Fn(&str) -> usize,
) -> Result<String, LimitTooSmall> {
    truncate_keeping(text, limit, tail, weigh, |_| Vec::new())
}

/// [`truncate`], never cutting inside the ranges `whole` gives for the prepared text;
/// when the cut falls at the end of one of them (a link running to the next white
/// space) and `tail` does not start with white space, a space goes before the tail,
/// so the tail is not taken into the link.
pub(crate) fn truncate_keeping(
    text: &str,
    limit: usize,
    tail: &str,
    weigh: impl Fn(&str) -> usize,
    whole: impl Fn(&str) -> Vec<Range<usize>>,
) -> Result<String, LimitTooSmall> {
    let text = prepare(text);
    if weigh(&text) <= limit {
        return Ok(text);
    }
    let whole = whole(&text);
    let mut layout = Layout::new(&text, &weigh, &whole);
    let glued =
        |end: usize| !tail.starts_with(char::is_whitespace) && whole.iter().any(|r| r.end == end);
    let (body_end, _) = layout.cut(0, tail, limit)?;
    if !glued(body_end) {
        return Ok(format!("{}{}", &text[..body_end], tail));
    }
    let spaced = format!(" {tail}");
    let (body_end, _) = layout.cut(0, &spaced, limit)?;
    let tail = if glued(body_end) { &spaced } else { tail };
    Ok(format!("{}{}", &text[..body_end], tail))
}

/// Checks that `parts` (as returned by [`split_thread`]) rejoin to `original`: with the
/// ` (i/n)` suffixes removed (when there are several parts), each part is a piece of the
/// NFC, trimmed original, taken in order with nothing left out but whitespace, and
/// whitespace only at cuts (no part starts or ends with whitespace).
pub fn rejoins_to(original: &str, parts: &[String]) -> bool {
    let original = prepare(original);
    let n = parts.len();
    let mut rest = original.as_str();
    for (i, part) in parts.iter().enumerate() {
        let body = if n > 1 {
            match part.strip_suffix(&numbering(i + 1, n)) {
                Some(body) => body,
                None => return false,
            }
        } else {
            part.as_str()
        };
        if body.trim() != body || (body.is_empty() && !original.is_empty()) {
            return false;
        }
        if i > 0 {
            rest = rest.trim_start();
        }
        match rest.strip_prefix(body) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests;
