//! Is a post we find on a network the one we may have made? Networks rewrite text a
//! little (X wraps URLs in t.co links and escapes `&`, `<`, `>`), so texts are compared
//! after normalising both the same way.

use crate::text::{entities, nfc};

/// The text as compared: NFC, HTML entities X uses undone, every URL replaced by one
/// marker, white space runs folded to one space, trimmed.
pub fn comparable(text: &str) -> String {
    let text = nfc(text)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for url in entities::urls(&text) {
        out.push_str(&text[last..url.start]);
        out.push_str("\u{1}url\u{1}");
        last = url.end;
    }
    out.push_str(&text[last..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True when `found` on the network is `ours`, as far as its text can tell.
pub fn same_text(ours: &str, found: &str) -> bool {
    comparable(ours) == comparable(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_urls_and_escapes_still_match() {
        assert!(same_text(
            "看这个 https://example.com/a/very/long/path & more",
            "看这个 https://t.co/AbC123 &amp; more"
        ));
        assert!(same_text("Cafe\u{301}  ok\n", "Café ok"));
        assert!(!same_text("第一部分 (1/2)", "第一部分 (2/2)"));
        assert!(!same_text("hello", "hello!"));
    }
}
