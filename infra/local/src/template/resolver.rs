//! What intrinsic functions resolve to once the local resources exist, and a function's
//! environment resolved.

use super::intrinsics::Expr;
use super::{FunctionSpec, ACCOUNT_ID, REGION};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;

/// A created queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// A created KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyInfo {
    pub key_id: String,
    pub arn: String,
}

/// What intrinsic functions resolve to once the local resources exist.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pub parameters: BTreeMap<String, String>,
    /// logical id → (table name, table ARN)
    pub tables: BTreeMap<String, (String, String)>,
    pub queues: BTreeMap<String, QueueInfo>,
    pub kms_keys: BTreeMap<String, KmsKeyInfo>,
    /// logical id → alias name (`alias/...`)
    pub kms_aliases: BTreeMap<String, String>,
    /// logical id → secret ARN
    pub secrets: BTreeMap<String, String>,
    pub resource_types: BTreeMap<String, String>,
}

impl Resolver {
    pub fn resolve(&self, e: &Expr) -> Result<String> {
        match e {
            Expr::Lit(s) => Ok(s.clone()),
            Expr::Ref(id) => self.resolve_ref(id),
            Expr::GetAtt(id, attr) => self.resolve_getatt(id, attr),
            Expr::Sub(text, vars) => {
                let mut out = String::new();
                let mut rest = text.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| anyhow!("unclosed `${{` in Sub `{text}`"))?;
                    let name = &after[..end];
                    if let Some(lit) = name.strip_prefix('!') {
                        out.push_str("${");
                        out.push_str(lit);
                        out.push('}');
                    } else if let Some(v) = vars.get(name) {
                        out.push_str(&self.resolve(v)?);
                    } else if let Some((id, attr)) =
                        name.split_once('.').filter(|_| !name.starts_with("AWS::"))
                    {
                        out.push_str(&self.resolve_getatt(id, attr)?);
                    } else {
                        out.push_str(&self.resolve_ref(name)?);
                    }
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Ok(out)
            }
        }
    }

    fn resolve_ref(&self, id: &str) -> Result<String> {
        if let Some(v) = self.parameters.get(id) {
            return Ok(v.clone());
        }
        if let Some((name, _)) = self.tables.get(id) {
            return Ok(name.clone());
        }
        if let Some(q) = self.queues.get(id) {
            return Ok(q.url.clone());
        }
        if let Some(k) = self.kms_keys.get(id) {
            return Ok(k.key_id.clone());
        }
        if let Some(a) = self.kms_aliases.get(id) {
            return Ok(a.clone());
        }
        // As in CloudFormation, a secret's Ref is its ARN.
        if let Some(arn) = self.secrets.get(id) {
            return Ok(arn.clone());
        }
        match id {
            "AWS::Region" => Ok(REGION.to_string()),
            "AWS::AccountId" => Ok(ACCOUNT_ID.to_string()),
            "AWS::Partition" => Ok("aws".to_string()),
            "AWS::URLSuffix" => Ok("amazonaws.com".to_string()),
            "AWS::StackName" => Ok("crosspost-local".to_string()),
            _ => Err(self.unknown(id)),
        }
    }

    fn resolve_getatt(&self, id: &str, attr: &str) -> Result<String> {
        if let Some((_, arn)) = self.tables.get(id) {
            return match attr {
                "Arn" => Ok(arn.clone()),
                _ => bail!("!GetAtt {id}.{attr}: only Arn of a table is available locally"),
            };
        }
        if let Some(q) = self.queues.get(id) {
            return match attr {
                "Arn" => Ok(q.arn.clone()),
                "QueueName" => Ok(q.name.clone()),
                "QueueUrl" => Ok(q.url.clone()),
                _ => bail!("!GetAtt {id}.{attr}: a queue has Arn, QueueName and QueueUrl"),
            };
        }
        if let Some(k) = self.kms_keys.get(id) {
            return match attr {
                "Arn" => Ok(k.arn.clone()),
                "KeyId" => Ok(k.key_id.clone()),
                _ => bail!("!GetAtt {id}.{attr}: a KMS key has Arn and KeyId"),
            };
        }
        if self.kms_aliases.contains_key(id) {
            bail!("!GetAtt {id}.{attr}: a KMS alias has no attributes (use !Ref)");
        }
        if let Some(arn) = self.secrets.get(id) {
            return match attr {
                "Id" => Ok(arn.clone()),
                _ => bail!("!GetAtt {id}.{attr}: a secret has Id (its ARN)"),
            };
        }
        Err(self.unknown(id))
    }

    fn unknown(&self, id: &str) -> anyhow::Error {
        match self.resource_types.get(id).map(String::as_str) {
            Some(
                ty @ ("AWS::SecretsManager::Secret"
                | "AWS::KMS::Key"
                | "AWS::KMS::Alias"
                | "AWS::DynamoDB::Table"
                | "AWS::SQS::Queue"),
            ) => anyhow!("{id} (a {ty}) is not created yet where it is referred to"),
            Some(ty) => anyhow!("{id} is a {ty}, which the local stack does not run"),
            None => anyhow!("{id} is neither a parameter nor a resource of the template"),
        }
    }

    /// The function's environment from the template, resolved.
    pub fn environment(&self, f: &FunctionSpec) -> Result<BTreeMap<String, String>> {
        f.environment
            .iter()
            .map(|(k, e)| {
                self.resolve(e)
                    .map(|v| (k.clone(), v))
                    .with_context(|| format!("{}: environment variable {k}", f.logical_id))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{SECURITY, SMALL};
    use super::super::Template;
    use super::*;

    #[test]
    fn resolves_environment() {
        let t = Template::parse(SMALL).unwrap();
        let mut over = BTreeMap::new();
        over.insert("Base".to_string(), "http://127.0.0.1:9".to_string());
        let mut r = Resolver {
            parameters: t.parameter_values(&over).unwrap(),
            resource_types: t.resource_types.clone(),
            ..Default::default()
        };
        r.tables
            .insert("Table".into(), ("Table".into(), "arn:table".into()));
        for q in ["Main", "Dlq"] {
            r.queues.insert(
                q.into(),
                QueueInfo {
                    name: q.into(),
                    url: format!("http://q/{q}"),
                    arn: format!("arn:q:{q}"),
                },
            );
        }
        let env = r.environment(&t.functions[0]).unwrap();
        assert_eq!(env["TABLE"], "Table");
        assert_eq!(env["LEVEL"], "info");
        assert_eq!(env["QUEUE"], "http://q/Main");
        assert_eq!(env["QUEUE_NAME"], "Main");
        assert_eq!(env["DLQ_ARN"], "arn:q:Dlq");
        assert_eq!(env["BASE"], "http://127.0.0.1:9");
        assert_eq!(env["WHERE"], "us-east-1/Main/http://127.0.0.1:9");
        assert_eq!(env["PORT"], "8080");

        // A reference to something the local stack does not run names it.
        let err = r.resolve(&Expr::Ref("Api".into())).unwrap_err().to_string();
        assert!(err.contains("AWS::Serverless::HttpApi"), "{err}");
        // Overrides are checked against the template.
        over.insert("Nope".into(), "x".into());
        assert!(t.parameter_values(&over).is_err());
        let bad = BTreeMap::from([("Level".to_string(), "loud".to_string())]);
        assert!(t.parameter_values(&bad).is_err());
    }

    #[test]
    fn resolves_keys_aliases_and_secrets() {
        let t = Template::parse(SECURITY).unwrap();
        let secret_arn =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:SigningSecret-AbCdEf";
        let key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd";
        let mut r = Resolver {
            parameters: t.parameter_values(&BTreeMap::new()).unwrap(),
            resource_types: t.resource_types.clone(),
            ..Default::default()
        };
        // Before the secret exists, a reference to it says so.
        let err = r.environment(&t.functions[0]).unwrap_err();
        assert!(format!("{err:#}").contains("not created yet"), "{err:#}");

        r.kms_keys.insert(
            "TokenKey".into(),
            KmsKeyInfo {
                key_id: "1234abcd".into(),
                arn: key_arn.into(),
            },
        );
        r.kms_aliases
            .insert("TokenKeyAlias".into(), "alias/crosspost-tokens".into());
        r.secrets.insert("SigningSecret".into(), secret_arn.into());
        let fixed_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:FixedSecret-GhIjKl";
        let given_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:GivenSecret-MnOpQr";
        r.secrets.insert("FixedSecret".into(), fixed_arn.into());
        r.secrets.insert("GivenSecret".into(), given_arn.into());
        let env = r.environment(&t.functions[0]).unwrap();
        assert_eq!(env["SECRET_ID"], secret_arn);
        assert_eq!(env["FIXED_SECRET_ID"], fixed_arn);
        assert_eq!(env["GIVEN_SECRET_ID"], given_arn);
        assert_eq!(env["SECRET_ID_ATT"], secret_arn);
        assert_eq!(env["KEY_ID"], "1234abcd");
        assert_eq!(env["KEY_ARN"], key_arn);
        assert_eq!(env["KEY_ARN_SUB"], key_arn);
        assert_eq!(env["KEY_ALIAS"], "alias/crosspost-tokens");
        assert!(r
            .resolve(&Expr::GetAtt("TokenKey".into(), "Nope".into()))
            .is_err());
        assert!(r
            .resolve(&Expr::GetAtt("TokenKeyAlias".into(), "Arn".into()))
            .is_err());
        assert!(r
            .resolve(&Expr::GetAtt("SigningSecret".into(), "Arn".into()))
            .is_err());
    }
}
