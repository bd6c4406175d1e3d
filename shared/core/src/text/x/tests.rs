use super::*;

#[test]
fn latin_and_empty() {
    assert_eq!(weighted_length(""), 0);
    assert_eq!(weighted_length("hello"), 5);
    assert_eq!(weighted_length("Hello, world!\n"), 14);
    assert_eq!(weighted_length("café ñ Ωμέγα привет"), 19);
}

#[test]
fn cjk_counts_double() {
    assert_eq!(weighted_length("你好"), 4);
    assert_eq!(weighted_length(&"中".repeat(140)), 280);
    assert_eq!(weighted_length("こんにちは"), 10);
    assert_eq!(weighted_length("안녕"), 4);
}

#[test]
fn mixed_text() {
    // 2 CJK (4) + space (1) + 5 Latin (5) + `，` (2) + 2 CJK (4)
    assert_eq!(weighted_length("你好 hello，世界"), 16);
    assert_eq!(weighted_length("Rust 编程"), 9);
}

#[test]
fn punctuation_ranges() {
    assert_eq!(weighted_length("，"), 2);
    assert_eq!(weighted_length("。！？"), 6);
    assert_eq!(weighted_length("“”"), 2);
    assert_eq!(weighted_length("‘’"), 2);
    assert_eq!(weighted_length("—"), 1); // U+2014
    assert_eq!(weighted_length("…"), 2); // U+2026 is outside the 1-weight ranges
    assert_eq!(weighted_length("′″"), 2); // U+2032, U+2033
    assert_eq!(weighted_length("\u{200B}"), 1);
    assert_eq!(weighted_length("\u{3000}"), 2);
}

#[test]
fn urls_weigh_23() {
    assert_eq!(
        weighted_length("see https://example.com/a/very/long/path?x=1"),
        4 + 23
    );
    assert_eq!(weighted_length("example.com"), 23);
    assert_eq!(weighted_length("t.co"), 23);
    assert_eq!(weighted_length("看这个https://example.com很好"), 6 + 23 + 4);
    assert_eq!(
        weighted_length("看这个https://example.com/a很好"),
        6 + 23 + 4
    );
    assert_eq!(weighted_length("go to example.com/x."), 6 + 23 + 1);
    assert_eq!(
        weighted_length("https://a.com https://b.org/很长的路径"),
        23 + 1 + 23 + 10
    );
    // Not URLs: counted by characters.
    assert_eq!(weighted_length("index.html"), 10);
    assert_eq!(weighted_length("a@example.com"), 13);
}

#[test]
fn emoji_sequences_weigh_2() {
    assert_eq!(weighted_length("😀"), 2);
    assert_eq!(weighted_length("👨\u{200D}👩\u{200D}👧\u{200D}👦"), 2);
    assert_eq!(weighted_length("👍🏽"), 2);
    assert_eq!(weighted_length("🇨🇳"), 2);
    assert_eq!(weighted_length("1️⃣"), 2);
    assert_eq!(weighted_length("❤️"), 2);
    assert_eq!(weighted_length("🏳️‍🌈"), 2);
    assert_eq!(weighted_length("hi 👍🏽👍🏽"), 3 + 4);
    // Text presentation, no selector: a code point like any other.
    assert_eq!(weighted_length("©"), 1);
    assert_eq!(weighted_length("☺"), 2);
}

#[test]
fn nfc_first() {
    assert_eq!(weighted_length("e\u{301}"), 1);
    assert_eq!(weighted_length("e\u{301}"), weighted_length("é"));
    // Hangul jamo compose into one syllable (weight 2), not three jamo.
    assert_eq!(weighted_length("\u{1100}\u{1161}\u{11A8}"), 2);
}

#[test]
fn constants() {
    assert_eq!(MAX_WEIGHTED_LENGTH, 280);
    assert_eq!(URL_WEIGHT, 23);
}

#[test]
fn within_the_limit_is_one_unnumbered_part_under_every_policy() {
    let text = "中".repeat(140);
    for policy in [Overflow::Thread, Overflow::Truncate, Overflow::Reject] {
        let parts = adapt_for_x(&text, Some("https://example.com/p"), policy).unwrap();
        assert_eq!(
            parts,
            [Part {
                text: text.clone(),
                weighted_length: 280
            }]
        );
    }
}

#[test]
fn reject_reports_the_length() {
    let text = format!("{}a", "中".repeat(140));
    let err = adapt_for_x(&text, None, Overflow::Reject).unwrap_err();
    assert_eq!(
        err,
        ContentTooLong {
            weighted_length: 281,
            limit: 280
        }
    );
    assert_eq!(ContentTooLong::REASON, "content_too_long");
    assert_eq!(
        err.to_string(),
        "content_too_long: weighted length 281 exceeds 280"
    );
}

#[test]
fn truncate_ends_with_ellipsis_and_link() {
    let sentence = "今天天气很好，我们去公园散步。"; // 15 chars, 30 units
    let text = sentence.repeat(20); // 600 units
    let link = "https://example.com/posts/12345";
    let parts = adapt_for_x(&text, Some(link), Overflow::Truncate).unwrap();
    assert_eq!(parts.len(), 1);
    let p = &parts[0];
    // Room for the body: 280 - 2 (`…`) - 1 (space) - 23 (link) = 254 → 8 sentences (240).
    assert_eq!(p.text, format!("{}… {link}", sentence.repeat(8)));
    assert_eq!(p.weighted_length, 240 + 26);
    assert_eq!(weighted_length(&p.text), p.weighted_length);

    let parts = adapt_for_x(&text, None, Overflow::Truncate).unwrap();
    // Room 278: 9 sentences (270).
    assert_eq!(parts[0].text, format!("{}…", sentence.repeat(9)));
    assert_eq!(parts[0].weighted_length, 272);
}

#[test]
fn thread_policy_numbers_parts() {
    let text = "中".repeat(300); // 600 units
    let parts = adapt_for_x(&text, None, Overflow::Thread).unwrap();
    let lengths: Vec<usize> = parts.iter().map(|p| p.weighted_length).collect();
    // 137 characters + " (i/3)" = 274 + 6
    assert_eq!(lengths, [280, 280, 26 * 2 + 6]);
    assert!(parts[0].text.ends_with(" (1/3)"));
    assert!(parts[2].text.ends_with(" (3/3)"));
}

#[test]
fn overflow_policy_names() {
    assert_eq!(Overflow::default(), Overflow::Thread);
    assert_eq!(
        serde_json::to_string(&Overflow::Truncate).unwrap(),
        "\"truncate\""
    );
}
