use super::*;
use crate::text::entities::scan;
use crate::text::x::weighted_length;

fn x_split(text: &str) -> Vec<String> {
    split_thread(text, 280, weighted_length).unwrap()
}

/// The part bodies, without their ` (i/n)` suffix.
fn bodies(parts: &[String]) -> Vec<&str> {
    let n = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if n > 1 {
                p.strip_suffix(&numbering(i + 1, n)).unwrap()
            } else {
                p.as_str()
            }
        })
        .collect()
}

fn weights(parts: &[String]) -> Vec<usize> {
    parts.iter().map(|p| weighted_length(p)).collect()
}

/// Distinct CJK ideographs, no punctuation.
fn cjk(n: usize) -> String {
    (0..n)
        .map(|i| char::from_u32(0x4E00 + (i as u32 * 37) % 5000).unwrap())
        .collect()
}

#[test]
fn chinese_without_spaces_or_punctuation() {
    let text = cjk(600); // 1200 units
    let parts = x_split(&text);
    // 137 ideographs (274) + " (i/5)" (6) per full part; 600 = 4 × 137 + 52.
    assert_eq!(weights(&parts), [280, 280, 280, 280, 52 * 2 + 6]);
    assert_eq!(parts[0], format!("{} (1/5)", cjk(137)));
    assert!(parts[4].ends_with(" (5/5)"));
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn chinese_cuts_after_the_full_stop_in_the_window() {
    // clause: 12 ideographs + `，`; sentence: 3 clauses, the last ending with `。` (78 units)
    let clause = cjk(12);
    let sentence = format!("{clause}，{clause}，{clause}。");
    assert_eq!(weighted_length(&sentence), 78);
    let text = sentence.repeat(10);
    let parts = x_split(&text);
    let b = bodies(&parts);
    // Room 274: 3 sentences (234) beat the clause cut at 260.
    for body in &b[..b.len() - 1] {
        assert!(body.ends_with('。'), "{body}");
        assert_eq!(weighted_length(body), 234);
    }
    assert_eq!(parts.len(), 4);
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn chinese_cuts_after_a_comma_when_no_full_stop_is_in_the_window() {
    let clause = format!("{}，", cjk(12)); // 26 units
    let text = format!("{}{}。", clause.repeat(30), cjk(5));
    let parts = x_split(&text);
    let b = bodies(&parts);
    // Room 274: 10 clauses (260); the 11th would reach 286.
    for body in &b[..b.len() - 1] {
        assert!(body.ends_with('，'), "{body}");
        assert_eq!(weighted_length(body), 260);
    }
    assert!(b.last().unwrap().ends_with('。'));
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn paragraph_break_beats_a_later_full_stop() {
    let first = format!("{}。", cjk(80)); // 162 units
    let second = format!("{}。{}", cjk(40), cjk(80)); // 242 units
    let text = format!("{first}\n\n{second}");
    let parts = x_split(&text);
    assert_eq!(parts[0], format!("{first} (1/2)"));
    assert_eq!(parts[1], format!("{second} (2/2)"));
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn a_break_too_early_in_the_window_is_not_taken() {
    // A full stop after 10 ideographs (22 of 274) would make a needlessly short part.
    let text = format!("{}。{}", cjk(10), cjk(300));
    let parts = x_split(&text);
    assert_eq!(weights(&parts)[0], 280);
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn english_cuts_at_a_space() {
    let text = "alpha beta gamma delta epsilon zeta eta theta ".repeat(20);
    let parts = x_split(&text);
    let b = bodies(&parts);
    let original = prepare(&text);
    let mut at = 0;
    for body in &b[..b.len() - 1] {
        at = original[at..].find(body).unwrap() + at + body.len();
        assert!(
            original[at..].starts_with(' '),
            "cut inside a word: {body:?}"
        );
        assert!(!body.ends_with(' '));
    }
    let w = weights(&parts);
    assert!(w.iter().all(|&w| w <= 280));
    assert!(w[..w.len() - 1].iter().all(|&w| w >= 270), "{w:?}");
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn english_sentence_end_beats_a_later_space() {
    let text = format!(
        "{}. {}",
        "word ".repeat(40).trim_end(),
        "more words here ".repeat(30)
    );
    let parts = x_split(&text);
    // 40 words = 199 characters + `.`: the sentence end at 200 is in the window.
    assert!(bodies(&parts)[0].ends_with("word."));
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn entities_straddling_the_cut_are_kept_whole() {
    let url = "https://example.com/a/very/long/path/that/would/be/cut";
    let family = "👨\u{200D}👩\u{200D}👧\u{200D}👦";
    let cases = [
        // (text, what part 2 must start with)
        (format!("{}{url}{}", cjk(130), cjk(100)), url),
        (format!("{}{family}{}", cjk(137), cjk(100)), family),
        (
            // After a letter `#` starts no hashtag (twitter-text), after `，` it does.
            format!("{}，#话题标签测试{}", cjk(131), " 好".repeat(100)),
            "#话题标签测试",
        ),
        (
            format!("{}@jack_dorsey{}", cjk(135), cjk(100)),
            "@jack_dorsey",
        ),
        (format!("{}🇨🇳{}", cjk(137), cjk(100)), "🇨🇳"),
    ];
    for (text, second) in &cases {
        let parts = x_split(text);
        assert!(parts.len() >= 2);
        assert!(parts[1].starts_with(second), "{text}: {parts:?}");
        assert!(weights(&parts).iter().all(|&w| w <= 280));
        assert!(rejoins_to(text, &parts));
    }
}

#[test]
fn a_giant_hashtag_is_cut_at_graphemes() {
    let text = format!("开始 #{} 结束", cjk(300));
    let parts = x_split(&text);
    assert_eq!(bodies(&parts)[0], "开始");
    assert!(weights(&parts).iter().all(|&w| w <= 280));
    // `#` (1) + 136 ideographs (272) + " (i/3)" (6): 137 ideographs would not fit.
    assert_eq!(weights(&parts)[1], 279);
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn exactly_280_is_one_part_and_281_is_two() {
    let text = cjk(140);
    assert_eq!(x_split(&text), std::slice::from_ref(&text));
    let text = format!("{}a", cjk(140));
    let parts = x_split(&text);
    assert_eq!(parts.len(), 2);
    assert!(parts[0].ends_with(" (1/2)") && parts[1].ends_with(" (2/2)"));
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn numbering_width_from_9_to_10_parts() {
    // " (i/9)" leaves 274 per part: 9 × 274 fits in 9 parts.
    let parts = x_split(&"a".repeat(9 * 274));
    assert_eq!(parts.len(), 9);
    assert_eq!(parts[0], format!("{} (1/9)", "a".repeat(274)));
    assert_eq!(weights(&parts), [280; 9]);

    // One more character needs a 10th part, so " (i/10)" leaves only 273 (272 for 10).
    let text = "a".repeat(9 * 274 + 1);
    let parts = x_split(&text);
    assert_eq!(parts.len(), 10);
    assert_eq!(parts[0], format!("{} (1/10)", "a".repeat(273)));
    assert_eq!(parts[9], format!("{} (10/10)", "a".repeat(10)));
    assert!(weights(&parts).iter().all(|&w| w <= 280));
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn whitespace_at_a_cut_is_dropped() {
    let text = format!("{}   \n  {}", "x".repeat(200), "y".repeat(200));
    let parts = x_split(&text);
    assert_eq!(parts[0], format!("{} (1/2)", "x".repeat(200)));
    assert_eq!(parts[1], format!("{} (2/2)", "y".repeat(200)));
    assert!(rejoins_to(&text, &parts));
}

#[test]
fn rejoin_check_catches_losses() {
    let parts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(rejoins_to("ab cd", &parts(&["ab (1/2)", "cd (2/2)"])));
    assert!(rejoins_to("abcd", &parts(&["ab (1/2)", "cd (2/2)"])));
    assert!(rejoins_to("e\u{301}", &parts(&["é"])));
    assert!(!rejoins_to("ab cd", &parts(&["ab (1/2)", "c (2/2)"])));
    assert!(!rejoins_to("ab xcd", &parts(&["ab (1/2)", "cd (2/2)"])));
    assert!(!rejoins_to("ab cd", &parts(&["ab", "cd"])));
    assert!(!rejoins_to("ab cd", &parts(&["ab  (1/2)", "cd (2/2)"])));
    assert!(!rejoins_to("abcd", &parts(&["ab (1/2)", "cd (2/3)"])));
}

#[test]
fn limit_too_small() {
    assert_eq!(
        split_thread(&"中".repeat(10), 6, weighted_length),
        Err(LimitTooSmall { limit: 6 })
    );
    assert_eq!(
        truncate(&"a".repeat(10), 3, "……", weighted_length),
        Err(LimitTooSmall { limit: 3 })
    );
}

#[test]
fn truncate_is_generic() {
    let count = |s: &str| s.chars().count();
    assert_eq!(truncate("short", 10, "…", count).unwrap(), "short");
    assert_eq!(
        truncate("one two three four", 12, "…", count).unwrap(),
        "one two…"
    );
}

// ---------------------------------------------------------------------------------
// Property-style test over generated texts

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn generate(rng: &mut Lcg) -> String {
    const WORDS: &[&str] = &[
        "hello",
        "world",
        "Rust",
        "crosspost",
        "thread",
        "a",
        "I'm",
        "1,000",
    ];
    const PUNCT: &[&str] = &[
        "。", "，", ". ", ", ", "！", "？", "、", "…", "：", "“", "”", "; ",
    ];
    const SPACE: &[&str] = &[" ", " ", " ", "\n", "\n\n", "\u{3000}"];
    const EMOJI: &[&str] = &[
        "👨\u{200D}👩\u{200D}👧\u{200D}👦",
        "👍🏽",
        "🇨🇳",
        "1️⃣",
        "❤️",
        "😀",
        "🏳️\u{200D}🌈",
    ];
    const ENTITY: &[&str] = &[
        "https://example.com/path/to/page?id=42",
        "example.cn/x",
        "http://t.co/abc",
        "https://github.com/owner/repo/issues/5",
        "#话题",
        "#rust_lang",
        " @user_1 ",
        "e\u{301}",
        "www.example.org",
    ];
    let tokens = rng.below(400);
    let mut text = String::new();
    for _ in 0..tokens {
        match rng.below(10) {
            0..=3 => {
                let n = 1 + rng.below(12);
                for _ in 0..n {
                    let c = char::from_u32(0x4E00 + rng.below(0x5000) as u32).unwrap_or('中');
                    text.push(c);
                }
            }
            4 => text.push_str(rng.pick(WORDS)),
            5 => text.push_str(rng.pick(SPACE)),
            6 => text.push_str(rng.pick(PUNCT)),
            7 => text.push_str(rng.pick(EMOJI)),
            _ => text.push_str(rng.pick(ENTITY)),
        }
    }
    text
}

#[test]
fn generated_texts_split_within_the_limit_and_rejoin() {
    let mut rng = Lcg(0x5eed_cafe);
    let mut threads = 0;
    for round in 0..300 {
        let text = generate(&mut rng);
        let prepared = prepare(&text);
        let parts = x_split(&text);
        assert!(!parts.is_empty());
        let w = weights(&parts);
        assert!(
            w.iter().all(|&w| w <= 280),
            "round {round}: {w:?} {parts:?}"
        );
        assert!(
            rejoins_to(&text, &parts),
            "round {round}: {text:?} {parts:?}"
        );
        if weighted_length(&prepared) <= 280 {
            assert_eq!(parts, std::slice::from_ref(&prepared));
            continue;
        }
        threads += 1;
        // Every part but the last is reasonably full.
        for &w in &w[..w.len() - 1] {
            assert!(w >= 140, "round {round}: {w:?}");
        }
        // No cut falls inside an entity.
        let ranges = split_ranges(&prepared, 280, &weighted_length, &[]).unwrap();
        assert_eq!(ranges.len(), parts.len());
        let entities = scan(&prepared);
        for pair in ranges.windows(2) {
            for cut in [pair[0].end, pair[1].start] {
                for e in &entities {
                    assert!(
                        !(e.range.start < cut && cut < e.range.end),
                        "round {round}: cut {cut} inside {:?}",
                        &prepared[e.range.clone()]
                    );
                }
            }
        }
    }
    assert!(threads > 100, "{threads}");
}
