//! Template values that may be intrinsic functions (`!Ref`, `!GetAtt`, `!Sub`, in their
//! short and long forms), and the logical ids they refer to.

use anyhow::{anyhow, bail, Result};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A template value that may be an intrinsic function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Lit(String),
    Ref(String),
    GetAtt(String, String),
    /// `!Sub` text with its explicit variables.
    Sub(String, BTreeMap<String, Expr>),
}

impl Expr {
    pub fn parse(v: &Value) -> Result<Expr> {
        match v {
            Value::String(s) => Ok(Expr::Lit(s.clone())),
            Value::Number(n) => Ok(Expr::Lit(n.to_string())),
            Value::Bool(b) => Ok(Expr::Lit(b.to_string())),
            Value::Tagged(t) => {
                let tag = t.tag.to_string();
                let name = tag.trim_start_matches('!');
                Self::parse_fn(name, &t.value)
            }
            Value::Mapping(m) if m.len() == 1 => {
                let Some((k, inner)) = m.iter().next() else {
                    bail!("unsupported value {v:?}");
                };
                match k.as_str() {
                    Some("Ref") => Self::parse_fn("Ref", inner),
                    Some("Fn::GetAtt") => Self::parse_fn("GetAtt", inner),
                    Some("Fn::Sub") => Self::parse_fn("Sub", inner),
                    Some(other) => bail!("unsupported intrinsic function `{other}`"),
                    None => bail!("unsupported value {v:?}"),
                }
            }
            other => bail!("expected a string, number, bool, Ref, GetAtt or Sub, found {other:?}"),
        }
    }

    fn parse_fn(name: &str, v: &Value) -> Result<Expr> {
        match name {
            "Ref" => Ok(Expr::Ref(
                v.as_str()
                    .ok_or_else(|| anyhow!("Ref takes a logical id, found {v:?}"))?
                    .to_string(),
            )),
            "GetAtt" | "Fn::GetAtt" => {
                let (id, attr) = match v {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| anyhow!("GetAtt `{s}` is not `Resource.Attribute`"))?,
                    Value::Sequence(seq) if seq.len() == 2 => {
                        let s = |i: usize| {
                            seq[i]
                                .as_str()
                                .map(str::to_string)
                                .ok_or_else(|| anyhow!("GetAtt list items must be strings"))
                        };
                        (s(0)?, s(1)?)
                    }
                    other => bail!("GetAtt takes `Resource.Attribute` or [Resource, Attribute], found {other:?}"),
                };
                Ok(Expr::GetAtt(id, attr))
            }
            "Sub" | "Fn::Sub" => match v {
                Value::String(s) => Ok(Expr::Sub(s.clone(), BTreeMap::new())),
                Value::Sequence(seq) if seq.len() == 2 => {
                    let text = seq[0]
                        .as_str()
                        .ok_or_else(|| anyhow!("Sub's first item must be a string"))?;
                    let mut vars = BTreeMap::new();
                    if let Value::Mapping(m) = &seq[1] {
                        for (k, val) in m {
                            let k = k
                                .as_str()
                                .ok_or_else(|| anyhow!("Sub variable names must be strings"))?;
                            vars.insert(k.to_string(), Expr::parse(val)?);
                        }
                    } else {
                        bail!("Sub's second item must be a mapping of variables");
                    }
                    Ok(Expr::Sub(text.to_string(), vars))
                }
                other => bail!("Sub takes a string or [string, variables], found {other:?}"),
            },
            other => bail!("unsupported intrinsic function `!{other}`"),
        }
    }

    /// Logical ids this expression refers to (for ordering).
    pub(super) fn references(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Ref(id) | Expr::GetAtt(id, _) => {
                out.insert(id.clone());
            }
            Expr::Sub(text, vars) => {
                for name in sub_placeholders(text) {
                    let id = name.split('.').next().unwrap_or_default();
                    if !vars.contains_key(id) {
                        out.insert(id.to_string());
                    }
                }
                for v in vars.values() {
                    v.references(out);
                }
            }
        }
    }
}

/// `${Name}` placeholders of a `!Sub` text (`${!Literal}` excluded).
fn sub_placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                if !name.starts_with('!') {
                    out.push(name.to_string());
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}
