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
            added_by_mentions: 0,
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
fn reject_says_when_the_joiners_of_plain_made_the_text_too_long() {
    // 273 as written: fits. Under `plain` each of the four @names gets a joiner,
    // which X counts 2: 281.
    let names = "@amy @bob @cat @dan";
    let text = format!("{}{names}", "中".repeat(127));
    let keep = adapt_for_x_with(&text, None, Overflow::Reject, crate::Mentions::Keep).unwrap();
    assert_eq!(keep[0].weighted_length, 281 - 8);
    let err = adapt_for_x_with(&text, None, Overflow::Reject, crate::Mentions::Plain).unwrap_err();
    assert_eq!(err.weighted_length, 281);
    assert_eq!(err.added_by_mentions, 8);
    let message = err.to_string();
    assert!(
        message.starts_with(
            "content_too_long: weighted length 281 exceeds 280 (8 of it from the word joiners"
        ),
        "{message}"
    );
    assert!(message.contains("`mentions: keep`"), "{message}");
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

#[test]
fn counts_as_x_does_where_we_used_to_differ() {
    // A 64-character label: no URL, so every character counts.
    let host = format!("{}.com", "a".repeat(64));
    assert_eq!(weighted_length(&host), 68);
    // Hosts in any script.
    assert_eq!(weighted_length("http://ああ.com"), 23);
    assert_eq!(
        weighted_length("see twitter.中国 and twitter.рф"),
        4 + 23 + 5 + 23
    );
    // Long-tail TLDs without a scheme.
    let menu = format!("Menu at pizza.restaurant {}", "b".repeat(255));
    assert_eq!(weighted_length(&menu), 8 + 23 + 1 + 255);
    // t.co: the slug ends before `'s`.
    assert_eq!(weighted_length("http://t.co/pbY2NfTZ's"), 23 + 2);
}

#[test]
fn a_cjk_text_with_a_long_link_is_one_post() {
    let text = format!(
        "{}https://例子.com/a/very/long/path/that/keeps/going/and/going/on",
        "春".repeat(125)
    );
    assert_eq!(weighted_length(&text), 273);
    let parts = adapt_for_x(&text, None, Overflow::Thread).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].text, text);
}

#[test]
fn characters_x_refuses_make_a_text_invalid_and_are_dropped_when_adapting() {
    for bad in ['\u{FEFF}', '\u{FFFE}', '\u{FFFF}'] {
        let text = format!("{bad}hello{bad}");
        assert!(!parse(&text, &Config::V3).valid);
        let parts = adapt_for_x(&text, None, Overflow::Thread).unwrap();
        assert_eq!(parts[0].text, "hello");
        assert_eq!(parts[0].weighted_length, 5);
    }
    assert!(parse("hello", &Config::V3).valid);
    assert!(!parse("", &Config::V3).valid);
}

#[test]
fn v2_weighs_each_code_point_of_an_emoji_sequence() {
    let family = "👨\u{200D}👩\u{200D}👧\u{200D}👦";
    assert_eq!(parse(family, &Config::V3).weighted_length, 2);
    assert_eq!(parse(family, &Config::V2).weighted_length, 11);
}

#[test]
fn the_longest_chinese_text_with_dots_is_counted_in_linear_time() {
    // Without spaces a Chinese text is one long run of host characters; ASCII dots in
    // it chain "labels" that must not be walked again from every position.
    // The work is counted (labels looked at), not timed: twice the text, twice the
    // work, and a few labels per character at most.
    let sentence = "价格1.5元又涨了0.3元.看看吧"; // 17 characters, 3 dots, no URL
    let labels_looked_at = |copies: usize| {
        let text = sentence.repeat(copies);
        crate::text::entities::HOST_STEPS.with(|s| s.set(0));
        let w = weighted_length(&text);
        assert_eq!(w, weighted_length(sentence) * copies);
        crate::text::entities::HOST_STEPS.with(|s| s.get())
    };
    let half = labels_looked_at(63_206 / 17 / 2);
    let full = labels_looked_at(63_206 / 17 / 2 * 2);
    assert!(half > 0, "the host search ran");
    assert!(full <= 2 * half + 16, "linear: {half} then {full}");
    assert!(full <= 4 * 63_206, "{full} labels for 63,206 characters");
}
