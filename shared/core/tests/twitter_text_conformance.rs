//! twitter-text's conformance suite (`tests/data/twitter-text/`, see its SOURCE.md) run
//! against our X text rules: every case of the groups below must pass. Each test prints
//! its pass count and fails naming every failing case.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use crosspost_core::text::entities;
use crosspost_core::text::x::{self, validate, Config};
use serde_yaml::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/twitter-text")
}

fn load(file: &str) -> Value {
    let path = data_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn cases<'a>(doc: &'a Value, group: &str) -> &'a [Value] {
    doc["tests"][group]
        .as_sequence()
        .unwrap_or_else(|| panic!("no group {group}"))
}

fn text(case: &Value) -> &str {
    case["text"].as_str().expect("text")
}

fn describe(case: &Value) -> String {
    let t = text(case);
    let short: String = t.chars().take(80).collect();
    format!(
        "{} [{}{}]",
        case["description"].as_str().unwrap_or("?"),
        short,
        if short.len() < t.len() { "…" } else { "" }
    )
}

/// Runs `check` on every case of `group`: `Ok` or `Err(what we found instead)`.
fn run(file: &str, doc: &Value, group: &str, check: impl Fn(&Value) -> Result<(), String>) {
    let all = cases(doc, group);
    assert!(!all.is_empty(), "{file} {group}: no cases");
    let failures: Vec<String> = all
        .iter()
        .filter_map(|case| {
            check(case)
                .err()
                .map(|why| format!("  {}: {why}", describe(case)))
        })
        .collect();
    let passed = all.len() - failures.len();
    println!("{file} {group}: {passed}/{} pass", all.len());
    assert!(
        failures.is_empty(),
        "{file} {group}: {passed}/{} pass; failing:\n{}",
        all.len(),
        failures.join("\n")
    );
}

fn compare<T: PartialEq + std::fmt::Debug>(found: T, expected: T) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, found {found:?}"))
    }
}

/// Code point index of a byte offset (the conformance files count code points).
fn cp(text: &str, byte: usize) -> u64 {
    text[..byte].chars().count() as u64
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn indices(v: &Value) -> (u64, u64) {
    let i = v["indices"].as_sequence().expect("indices");
    (i[0].as_u64().expect("start"), i[1].as_u64().expect("end"))
}

fn url_list(t: &str) -> Vec<String> {
    entities::urls(t)
        .into_iter()
        .map(|r| t[r].to_string())
        .collect()
}

fn urls_with_indices(t: &str) -> Vec<(String, (u64, u64))> {
    entities::urls(t)
        .into_iter()
        .map(|r| (t[r.clone()].to_string(), (cp(t, r.start), cp(t, r.end))))
        .collect()
}

// ---------------------------------------------------------------------------------
// validate.yml

fn parse_check(config: Config) -> impl Fn(&Value) -> Result<(), String> {
    move |case| {
        let e = &case["expected"];
        let p = x::parse(text(case), &config);
        let num = |k: &str| e[k].as_u64().expect(k) as usize;
        compare(
            (
                p.weighted_length,
                p.valid,
                p.permillage,
                0,
                p.display_range_end,
                0,
                p.valid_range_end,
            ),
            (
                num("weightedLength"),
                e["valid"].as_bool().expect("valid"),
                num("permillage"),
                num("displayRangeStart"),
                num("displayRangeEnd"),
                num("validRangeStart"),
                num("validRangeEnd"),
            ),
        )
        .map_err(|e| format!("(weightedLength, valid, permillage, displayRange, validRange): {e}"))
    }
}

#[test]
fn validate_weighted_v2() {
    // twitter-text judges this group with config/v2.json: v3 without emoji parsing.
    run(
        "validate.yml",
        &load("validate.yml"),
        "WeightedTweetsCounterTest",
        parse_check(Config::V2),
    );
}

#[test]
fn validate_weighted_v3() {
    run(
        "validate.yml",
        &load("validate.yml"),
        "WeightedTweetsWithDiscountedEmojiCounterTest",
        parse_check(Config::V3),
    );
}

#[test]
fn validate_directional_markers() {
    run(
        "validate.yml",
        &load("validate.yml"),
        "UnicodeDirectionalMarkerCounterTest",
        parse_check(Config::V3),
    );
}

#[test]
fn validate_tweets_with_the_legacy_140_count() {
    // twitter-text judges this group with its deprecated 140-character count (v1).
    run("validate.yml", &load("validate.yml"), "tweets", |case| {
        compare(
            x::parse(text(case), &Config::V1).valid,
            case["expected"].as_bool().expect("bool"),
        )
    });
}

#[test]
fn validate_tokens() {
    let doc = load("validate.yml");
    let expect = |case: &Value| case["expected"].as_bool().expect("bool");
    run("validate.yml", &doc, "usernames", |c| {
        compare(validate::is_valid_username(text(c)), expect(c))
    });
    run("validate.yml", &doc, "lists", |c| {
        compare(validate::is_valid_list(text(c)), expect(c))
    });
    run("validate.yml", &doc, "hashtags", |c| {
        compare(validate::is_valid_hashtag(text(c)), expect(c))
    });
    run("validate.yml", &doc, "urls", |c| {
        compare(validate::is_valid_url(text(c), true), expect(c))
    });
    run("validate.yml", &doc, "urls_without_protocol", |c| {
        compare(validate::is_valid_url(text(c), false), expect(c))
    });
}

// ---------------------------------------------------------------------------------
// extract.yml

#[test]
fn extract_urls() {
    let doc = load("extract.yml");
    run("extract.yml", &doc, "urls", |case| {
        compare(url_list(text(case)), strings(&case["expected"]))
    });
    let with_indices = |case: &Value| {
        let expected: Vec<(String, (u64, u64))> = case["expected"]
            .as_sequence()
            .expect("list")
            .iter()
            .map(|u| (u["url"].as_str().expect("url").to_string(), indices(u)))
            .collect();
        compare(urls_with_indices(text(case)), expected)
    };
    run("extract.yml", &doc, "urls_with_indices", with_indices);
    run(
        "extract.yml",
        &doc,
        "urls_with_directional_markers",
        with_indices,
    );
    run("extract.yml", &doc, "tco_urls_with_params", |case| {
        compare(url_list(text(case)), strings(&case["expected"]))
    });
}

fn mentions_or_lists(t: &str) -> Vec<(String, String, (u64, u64))> {
    entities::mentions_or_lists(t)
        .into_iter()
        .map(|r| {
            let m = &t[r.clone()];
            let name_end = m.find('/').unwrap_or(m.len());
            let at = m.chars().next().map_or(1, char::len_utf8);
            (
                m[at..name_end].to_string(),
                m[name_end..].to_string(),
                (cp(t, r.start), cp(t, r.end)),
            )
        })
        .collect()
}

#[test]
fn extract_mentions() {
    let doc = load("extract.yml");
    run("extract.yml", &doc, "mentions", |case| {
        let found: Vec<String> = mentions_or_lists(text(case))
            .into_iter()
            .filter(|(_, list, _)| list.is_empty())
            .map(|(name, _, _)| name)
            .collect();
        compare(found, strings(&case["expected"]))
    });
    run("extract.yml", &doc, "mentions_with_indices", |case| {
        let found: Vec<(String, (u64, u64))> = mentions_or_lists(text(case))
            .into_iter()
            .filter(|(_, list, _)| list.is_empty())
            .map(|(name, _, i)| (name, i))
            .collect();
        let expected: Vec<(String, (u64, u64))> = case["expected"]
            .as_sequence()
            .expect("list")
            .iter()
            .map(|m| {
                (
                    m["screen_name"].as_str().expect("name").to_string(),
                    indices(m),
                )
            })
            .collect();
        compare(found, expected)
    });
    run(
        "extract.yml",
        &doc,
        "mentions_or_lists_with_indices",
        |case| {
            let expected: Vec<(String, String, (u64, u64))> = case["expected"]
                .as_sequence()
                .expect("list")
                .iter()
                .map(|m| {
                    (
                        m["screen_name"].as_str().expect("name").to_string(),
                        m["list_slug"].as_str().expect("slug").to_string(),
                        indices(m),
                    )
                })
                .collect();
            compare(mentions_or_lists(text(case)), expected)
        },
    );
}

fn hashtags(t: &str) -> Vec<(String, (u64, u64))> {
    entities::hashtags(t)
        .into_iter()
        .map(|r| {
            let h = &t[r.clone()];
            let sign = h.chars().next().map_or(1, char::len_utf8);
            (h[sign..].to_string(), (cp(t, r.start), cp(t, r.end)))
        })
        .collect()
}

#[test]
fn extract_hashtags() {
    let doc = load("extract.yml");
    let names = |case: &Value| {
        let found: Vec<String> = hashtags(text(case)).into_iter().map(|(h, _)| h).collect();
        compare(found, strings(&case["expected"]))
    };
    run("extract.yml", &doc, "hashtags", names);
    run("extract.yml", &doc, "hashtags_from_astral", names);
    run("extract.yml", &doc, "hashtags_with_indices", |case| {
        let expected: Vec<(String, (u64, u64))> = case["expected"]
            .as_sequence()
            .expect("list")
            .iter()
            .map(|h| {
                (
                    h["hashtag"].as_str().expect("hashtag").to_string(),
                    indices(h),
                )
            })
            .collect();
        compare(hashtags(text(case)), expected)
    });
}

// ---------------------------------------------------------------------------------
// tlds.yml and tld_lib.yml

#[test]
fn every_tld() {
    let doc = load("tlds.yml");
    for group in ["country", "generic"] {
        run("tlds.yml", &doc, group, |case| {
            compare(url_list(text(case)), strings(&case["expected"]))
        });
    }
}

#[test]
fn tld_list_matches_tld_lib() {
    let lib = load("tld_lib.yml");
    // Generated by infra/gen_tlds.py; run it again when tld_lib.yml changes.
    assert_eq!(
        strings(&lib["country"]),
        crosspost_core::text::tld::COUNTRY.to_vec(),
        "tld_list.rs's COUNTRY differs from tld_lib.yml: run `python3 infra/gen_tlds.py`"
    );
    assert_eq!(
        strings(&lib["generic"]),
        crosspost_core::text::tld::GENERIC.to_vec(),
        "tld_list.rs's GENERIC differs from tld_lib.yml: run `python3 infra/gen_tlds.py`"
    );
}

// ---------------------------------------------------------------------------------
// Splitting never cuts an entity twitter-text recognises

/// Distinct CJK ideographs, none of which can join an entity.
fn cjk(n: usize, seed: usize) -> String {
    (0..n)
        .map(|i| char::from_u32(0x4E00 + ((i + seed) as u32 * 37) % 5000).unwrap_or('中'))
        .collect()
}

#[test]
fn a_thread_never_cuts_a_conformance_entity() {
    let extract = load("extract.yml");
    let tlds = load("tlds.yml");
    let mut samples: Vec<String> = Vec::new();
    for group in ["urls", "tco_urls_with_params"] {
        for case in cases(&extract, group) {
            samples.extend(strings(&case["expected"]));
        }
    }
    for group in ["urls_with_indices", "urls_with_directional_markers"] {
        for case in cases(&extract, group) {
            for u in case["expected"].as_sequence().into_iter().flatten() {
                samples.push(u["url"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    for group in ["country", "generic"] {
        for case in cases(&tlds, group).iter().step_by(7) {
            samples.extend(strings(&case["expected"]));
        }
    }
    for case in cases(&extract, "mentions_or_lists_with_indices") {
        for m in case["expected"].as_sequence().into_iter().flatten() {
            let name = m["screen_name"].as_str().unwrap_or_default();
            let list = m["list_slug"].as_str().unwrap_or_default();
            samples.push(format!("@{name}{list}"));
        }
    }
    for case in cases(&extract, "hashtags_with_indices") {
        for h in case["expected"].as_sequence().into_iter().flatten() {
            samples.push(format!("#{}", h["hashtag"].as_str().unwrap_or_default()));
        }
    }
    samples.sort();
    samples.dedup();

    let split = |t: &str| {
        crosspost_core::text::split_thread(t, x::MAX_WEIGHTED_LENGTH, x::weighted_length)
            .expect("split")
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for (n, entity) in samples.iter().enumerate() {
        let weight = x::weighted_length(entity);
        if weight > 100 {
            continue; // heavier than a sensible part; cut as a last resort
        }
        // Three places around the first cut (at most 274 before the numbering).
        for shift in [1, weight / 2 + 1, weight] {
            let before = (274 - shift) / 2;
            let text = format!("{} {entity} {}", cjk(before, n), cjk(200, n + 1));
            let found = entities::scan(&text)
                .iter()
                .any(|e| &text[e.range.clone()] == entity);
            if !found {
                failures.push(format!("  {entity}: not recognised inside the text"));
                break;
            }
            let parts = split(&text);
            let whole = parts.iter().any(|p| p.contains(entity.as_str()));
            if parts.len() < 2 || !whole || !crosspost_core::text::rejoins_to(&text, &parts) {
                failures.push(format!("  {entity} (shift {shift}): {parts:?}"));
            }
            checked += 1;
        }
    }
    println!(
        "split: {checked} texts, {} entities, {} failing",
        samples.len(),
        failures.len()
    );
    assert!(checked > 300, "only {checked} texts checked");
    assert!(
        failures.is_empty(),
        "entities cut by a split:\n{}",
        failures.join("\n")
    );
}

/// `mentions: plain` on X (`crosspost_core::text::mentions`): in every text of
/// twitter-text's mention groups, no mention or list is left once a word joiner follows
/// each at sign the extractor links, the text is otherwise unchanged, and X's weighted
/// length grows by exactly 2 per joiner (U+2060 is outside v3's weight-1 ranges).
#[test]
fn plain_mentions_leave_nothing_to_mention() {
    use crosspost_core::text::mentions::{plain_for_x, WORD_JOINER};
    let doc = load("extract.yml");
    for group in [
        "mentions",
        "mentions_with_indices",
        "mentions_or_lists_with_indices",
    ] {
        run("extract.yml", &doc, group, |case| {
            let t = text(case);
            let plain = plain_for_x(t);
            let left = entities::mentions_or_lists(&plain);
            if !left.is_empty() {
                return Err(format!("still mentions {:?}", left));
            }
            if plain.replace(WORD_JOINER, "") != t.replace(WORD_JOINER, "") {
                return Err(format!("changed beyond joiners: {plain}"));
            }
            let joiners = plain.matches(WORD_JOINER).count() - t.matches(WORD_JOINER).count();
            if joiners != entities::mentions_or_lists(t).len() {
                return Err(format!(
                    "{joiners} joiners for {} mentions",
                    entities::mentions_or_lists(t).len()
                ));
            }
            let grew = x::weighted_length(&plain) - x::weighted_length(t);
            if grew != 2 * joiners {
                return Err(format!(
                    "weighted length grew by {grew} for {joiners} joiners"
                ));
            }
            Ok(())
        });
    }
}
