//! Top-level domains: every name in twitter-text's `tld_lib.yml` (IANA's root zone as
//! twitter-text carries it: country codes, generic names, and their non-Latin forms such
//! as `中国`, `рф`, `みんな`). The list itself is generated into `tld_list.rs` by
//! `infra/gen_tlds.py`; a conformance test checks it still matches the data file.

use std::collections::HashSet;
use std::sync::OnceLock;

#[path = "tld_list.rs"]
mod list;

pub use list::{COUNTRY, GENERIC};

struct Known {
    names: HashSet<String>,
    /// The most characters a name has.
    longest: usize,
}

fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let names: HashSet<String> = COUNTRY.iter().chain(GENERIC).map(|n| lower(n)).collect();
        let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        Known { names, longest }
    })
}

/// Lower case, one character for one (as a case-insensitive regular expression
/// compares), so that character counts stay those of the text.
fn lower(s: &str) -> String {
    s.chars().map(lower_char).collect()
}

fn lower_char(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

/// Whether `name` (any case) is a known TLD.
pub fn is_known(name: &str) -> bool {
    known().names.contains(&lower(name))
}

/// The length in characters of the longest known TLD that starts at `chars[at]` and
/// ends before `limit` where twitter-text lets a TLD end: at `limit` or before a
/// character other than an ASCII letter or digit, `@`, `+` or `-`.
pub(crate) fn tld_at(chars: &[char], at: usize, limit: usize) -> Option<usize> {
    let k = known();
    let most = k.longest.min(limit.saturating_sub(at));
    let mut candidate = String::new();
    let mut best = None;
    for len in 1..=most {
        candidate.push(lower_char(chars[at + len - 1]));
        let end = at + len;
        let ends_here = end == limit
            || !(chars[end].is_ascii_alphanumeric() || matches!(chars[end], '@' | '+' | '-'));
        if ends_here && k.names.contains(&candidate) {
            best = Some(len);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<usize> {
        let chars: Vec<char> = text.chars().collect();
        tld_at(&chars, 0, chars.len())
    }

    #[test]
    fn known_names_in_any_case_and_script() {
        for name in [
            "com",
            "COM",
            "jp",
            "restaurant",
            "中国",
            "рф",
            "РФ",
            "みんな",
            "한국",
        ] {
            assert!(is_known(name), "{name}");
        }
        for name in ["comm", "baz", "js", "html", ""] {
            assert!(!is_known(name), "{name}");
        }
    }

    #[test]
    fn a_tld_ends_where_twitter_text_lets_it_end() {
        assert_eq!(at("com"), Some(3));
        assert_eq!(at("com/x"), Some(3));
        assert_eq!(at("com中国語"), Some(3));
        assert_eq!(at("comcast"), Some(7));
        assert_eq!(at("comm"), None);
        assert_eq!(at("com-x"), None);
        assert_eq!(at("com@x"), None);
        assert_eq!(at("中国/"), Some(2));
    }
}
