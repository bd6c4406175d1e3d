//! Strict readers of template values: a mapping, a key, a literal, an integer, a flag,
//! and the check that a mapping holds only the properties the local stack understands.

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml::{Mapping, Value};

pub(super) fn mapping<'a>(v: &'a Value, what: &str) -> Result<&'a serde_yaml::Mapping> {
    v.as_mapping()
        .ok_or_else(|| anyhow!("{what} must be a mapping"))
}

pub(super) fn key_str(k: &Value) -> Result<&str> {
    k.as_str().ok_or_else(|| anyhow!("non-string key {k:?}"))
}

pub(super) fn literal(v: &Value, what: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => bail!("{what} must be a literal value, found {other:?}"),
    }
}

pub(super) fn int(v: &Value, what: &str) -> Result<i64> {
    literal(v, what)?
        .parse()
        .with_context(|| format!("{what} must be an integer"))
}

pub(super) fn check_keys(
    m: &serde_yaml::Mapping,
    what: &str,
    known: &[&str],
    ignored: &[&str],
) -> Result<()> {
    for k in m.keys() {
        let k = key_str(k)?;
        if !known.contains(&k) && !ignored.contains(&k) {
            bail!(
                "{what}: property `{k}` is not understood by the local stack \
                 (supported: {}); teach infra/local about it rather than ignoring it",
                known.join(", ")
            );
        }
    }
    Ok(())
}

pub(super) fn flag(m: &serde_yaml::Mapping, key: &str, default: bool) -> Result<bool> {
    match m.get(key) {
        None => Ok(default),
        Some(v) => match literal(v, key)?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => bail!("{key} must be true or false, found `{other}`"),
        },
    }
}

/// A property that must be there; `within` names the mapping it is missing from.
pub(super) fn required<'a>(m: &'a Mapping, key: &str, within: &str) -> Result<&'a Value> {
    m.get(key).ok_or_else(|| anyhow!("{within}: {key} missing"))
}

/// The literal value of a property that must be there.
pub(super) fn required_literal(m: &Mapping, key: &str, within: &str) -> Result<String> {
    literal(required(m, key, within)?, key)
}

/// The literal value of a property that may be absent.
pub(super) fn optional_literal(m: &Mapping, key: &str) -> Result<Option<String>> {
    m.get(key).map(|v| literal(v, key)).transpose()
}

/// The integer value of a property that may be absent.
pub(super) fn optional_int(m: &Mapping, key: &str) -> Result<Option<i64>> {
    m.get(key).map(|v| int(v, key)).transpose()
}
