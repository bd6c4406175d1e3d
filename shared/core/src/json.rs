//! Duplicate keys in a JSON body. RFC 8259 (section 4) leaves their meaning to each
//! parser, and parsers disagree (serde_json keeps the last value, others the first), so
//! a body that repeats a key in one object is refused instead of guessed at.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// A key written twice in one object: the key and the JSON pointer of its second use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub key: String,
    pub pointer: String,
}

/// The first key `body` repeats within one object, walking the body in order; None for
/// a body without one, or one that is not JSON at all (its parser says what is wrong).
pub fn find_duplicate_key(body: &[u8]) -> Option<DuplicateKey> {
    let mut found = None;
    let mut path = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Walk {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// One step of the path from the body's root to a value.
enum Step {
    Key(String),
    Index(usize),
}

/// The JSON pointer (RFC 6901) of `path`. Made only for the duplicate found: building
/// one for every value would copy a long key once per element of an array below it.
fn pointer(path: &[Step]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Key(key) => format!("/{}", key.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// Visits one value at `path`, recording the first duplicate key below it.
struct Walk<'a> {
    path: &'a mut Vec<Step>,
    found: &'a mut Option<DuplicateKey>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            self.path.push(Step::Index(i));
            let item = Walk {
                path: &mut *self.path,
                found: &mut *self.found,
            };
            let more = seq.next_element_seed(item)?.is_some();
            self.path.pop();
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                self.path.push(Step::Key(key.clone()));
                let pointer = pointer(self.path);
                *self.found = Some(DuplicateKey { key, pointer });
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.push(Step::Key(key.clone()));
            seen.insert(key);
            map.next_value_seed(Walk {
                path: &mut *self.path,
                found: &mut *self.found,
            })?;
            self.path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(body: &str) -> Option<(String, String)> {
        find_duplicate_key(body.as_bytes()).map(|d| (d.key, d.pointer))
    }

    #[test]
    fn a_repeated_key_is_found_with_its_pointer() {
        assert_eq!(
            dup(r#"{"text":"one","text":"two"}"#),
            Some(("text".into(), "/text".into()))
        );
        assert_eq!(
            dup(r#"{"media":[{"url":"a"},{"url":"b","alt":"x","url":"c"}]}"#),
            Some(("url".into(), "/media/1/url".into()))
        );
        assert_eq!(
            dup(r#"{"a/b~":{"k":1,"k":2}}"#),
            Some(("k".into(), "/a~1b~0/k".into()))
        );
        // Escaped forms of one key are the same key.
        assert_eq!(
            dup(r#"{"text":"one","te\u0078t":"two"}"#),
            Some(("text".into(), "/text".into()))
        );
    }

    #[test]
    fn a_duplicate_after_a_long_key_above_a_long_array_is_found() {
        // Near 1 MiB: a 512 KiB key above 200,000 elements. The pointer is made for the
        // duplicate only (one made for every element would copy 100 GB).
        let key = "k".repeat(512 * 1024);
        let body = format!(r#"{{"{key}":[{}0],"x":1,"x":2}}"#, "0,".repeat(200_000));
        assert_eq!(dup(&body), Some(("x".into(), "/x".into())));
        let body = format!(r#"{{"{key}":[{}{{"y":1,"y":2}}]}}"#, "0,".repeat(3));
        assert_eq!(dup(&body), Some(("y".into(), format!("/{key}/3/y"))));
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine_and_non_json_is_left_alone() {
        assert_eq!(
            dup(r#"{"a":{"id":1},"b":{"id":1},"id":[{"id":2},{"id":3}]}"#),
            None
        );
        assert_eq!(dup(r#"[1, "two", null, true, 3.5, {"x": -1}]"#), None);
        assert_eq!(dup("not json"), None);
        assert_eq!(dup(""), None);
    }
}
