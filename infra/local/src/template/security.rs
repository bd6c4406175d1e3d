//! `AWS::KMS::Key`, `AWS::KMS::Alias` and `AWS::SecretsManager::Secret`: what moto
//! creates for them, and where a secret's first value comes from.

use super::intrinsics::Expr;
use super::props::{
    check_keys, flag, literal, mapping, optional_int, optional_literal, required, required_literal,
};
use anyhow::{bail, Context, Result};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// `GenerateSecretString`: how CloudFormation makes a secret's first value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSecretSpec {
    pub password_length: usize,
    /// Characters never used.
    pub exclude_characters: String,
    pub exclude_lowercase: bool,
    pub exclude_uppercase: bool,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub include_space: bool,
    /// At least one character of every type still included.
    pub require_each_included_type: bool,
    /// `SecretStringTemplate` (a JSON object, maybe a `!Sub`) and `GenerateStringKey`: the
    /// value is the template with the generated string under that key.
    pub template: Option<(Expr, String)>,
}

/// Where a secret's first value comes from (`StackOptions::secret_values` wins over both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `SecretString`.
    Given(Expr),
    /// `GenerateSecretString`.
    Generate(GenerateSecretSpec),
    /// Neither: the local run must be given the value.
    Unset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub logical_id: String,
    pub source: SecretSource,
    /// `KmsKeyId`: passed to moto once resolved (moto records it; it encrypts nothing).
    pub kms_key_id: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeySpec {
    pub logical_id: String,
    /// SYMMETRIC_DEFAULT unless the template says otherwise.
    pub key_spec: String,
    /// ENCRYPT_DECRYPT unless the template says otherwise.
    pub key_usage: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsAliasSpec {
    pub logical_id: String,
    /// `alias/...`
    pub alias_name: String,
    pub target_key_id: Expr,
}

fn parse_generate_secret(v: &Value) -> Result<GenerateSecretSpec> {
    let what = "GenerateSecretString";
    let m = mapping(v, what)?;
    check_keys(
        m,
        what,
        &[
            "PasswordLength",
            "ExcludeCharacters",
            "ExcludeLowercase",
            "ExcludeUppercase",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "IncludeSpace",
            "RequireEachIncludedType",
            "SecretStringTemplate",
            "GenerateStringKey",
        ],
        &[],
    )?;
    let password_length = optional_int(m, "PasswordLength")?.unwrap_or(32);
    if !(1..=4096).contains(&password_length) {
        bail!("{what}: PasswordLength must be between 1 and 4096, found {password_length}");
    }
    let template = match (m.get("SecretStringTemplate"), m.get("GenerateStringKey")) {
        (Some(t), Some(k)) => Some((
            Expr::parse(t).context("SecretStringTemplate")?,
            literal(k, "GenerateStringKey")?,
        )),
        (None, None) => None,
        _ => bail!("{what}: SecretStringTemplate and GenerateStringKey must be given together"),
    };
    Ok(GenerateSecretSpec {
        password_length: password_length as usize,
        exclude_characters: optional_literal(m, "ExcludeCharacters")?.unwrap_or_default(),
        exclude_lowercase: flag(m, "ExcludeLowercase", false)?,
        exclude_uppercase: flag(m, "ExcludeUppercase", false)?,
        exclude_numbers: flag(m, "ExcludeNumbers", false)?,
        exclude_punctuation: flag(m, "ExcludePunctuation", false)?,
        include_space: flag(m, "IncludeSpace", false)?,
        require_each_included_type: flag(m, "RequireEachIncludedType", true)?,
        template,
    })
}

pub(super) fn parse_secret(id: &str, props: &serde_yaml::Mapping) -> Result<SecretSpec> {
    // The local secret is always named by its logical id, like tables and queues: the
    // functions reach it through `!Ref` (its ARN), never by name, and a fixed `Name` could
    // collide between stacks. Description and tags change nothing a function can observe;
    // replication to other regions has no local meaning.
    check_keys(
        props,
        "secret",
        &["SecretString", "GenerateSecretString", "KmsKeyId"],
        &["Name", "Description", "Tags", "ReplicaRegions"],
    )?;
    let source = match (props.get("SecretString"), props.get("GenerateSecretString")) {
        (Some(_), Some(_)) => {
            bail!("SecretString and GenerateSecretString cannot both be given")
        }
        (Some(v), None) => SecretSource::Given(Expr::parse(v).context("SecretString")?),
        (None, Some(g)) => SecretSource::Generate(parse_generate_secret(g)?),
        (None, None) => SecretSource::Unset,
    };
    let kms_key_id = props
        .get("KmsKeyId")
        .map(|v| Expr::parse(v).context("KmsKeyId"))
        .transpose()?;
    Ok(SecretSpec {
        logical_id: id.to_string(),
        source,
        kms_key_id,
    })
}

pub(super) fn parse_kms_key(id: &str, props: &serde_yaml::Mapping) -> Result<KmsKeySpec> {
    // moto enforces no key policy, rotates nothing and keeps no deletion window, so the
    // policy, rotation, description, deletion window, tags and the policy lockout check
    // change nothing locally. Multi-region keys act as ordinary keys in one region.
    check_keys(
        props,
        "KMS key",
        &["KeySpec", "KeyUsage", "Enabled", "Origin"],
        &[
            "KeyPolicy",
            "EnableKeyRotation",
            "RotationPeriodInDays",
            "Description",
            "PendingWindowInDays",
            "Tags",
            "MultiRegion",
            "BypassPolicyLockoutSafetyCheck",
        ],
    )?;
    if let Some(o) = props.get("Origin") {
        let o = literal(o, "Origin")?;
        if o != "AWS_KMS" {
            bail!("Origin `{o}` is not supported locally (only AWS_KMS keys are)");
        }
    }
    Ok(KmsKeySpec {
        logical_id: id.to_string(),
        key_spec: optional_literal(props, "KeySpec")?
            .unwrap_or_else(|| "SYMMETRIC_DEFAULT".to_string()),
        key_usage: optional_literal(props, "KeyUsage")?
            .unwrap_or_else(|| "ENCRYPT_DECRYPT".to_string()),
        enabled: flag(props, "Enabled", true)?,
    })
}

pub(super) fn parse_kms_alias(
    id: &str,
    props: &serde_yaml::Mapping,
    resource_types: &BTreeMap<String, String>,
) -> Result<KmsAliasSpec> {
    check_keys(props, "KMS alias", &["AliasName", "TargetKeyId"], &[])?;
    let alias_name = required_literal(props, "AliasName", "KMS alias")?;
    if !alias_name.starts_with("alias/") || alias_name.starts_with("alias/aws/") {
        bail!("AliasName `{alias_name}` must start with `alias/` (and not `alias/aws/`)");
    }
    let target_key_id =
        Expr::parse(required(props, "TargetKeyId", "KMS alias")?).context("TargetKeyId")?;
    if let Expr::Ref(k) | Expr::GetAtt(k, _) = &target_key_id {
        if resource_types.get(k).map(String::as_str) != Some("AWS::KMS::Key") {
            bail!("TargetKeyId: {k} is not an AWS::KMS::Key of the template");
        }
    }
    Ok(KmsAliasSpec {
        logical_id: id.to_string(),
        alias_name,
        target_key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::SECURITY;
    use super::super::Template;
    use super::*;

    #[test]
    fn parses_keys_aliases_and_secrets() {
        let t = Template::parse(SECURITY).unwrap();
        assert_eq!(
            t.kms_keys,
            vec![KmsKeySpec {
                logical_id: "TokenKey".into(),
                key_spec: "SYMMETRIC_DEFAULT".into(),
                key_usage: "ENCRYPT_DECRYPT".into(),
                enabled: true,
            }]
        );
        assert_eq!(
            t.kms_aliases,
            vec![KmsAliasSpec {
                logical_id: "TokenKeyAlias".into(),
                alias_name: "alias/crosspost-tokens".into(),
                target_key_id: Expr::Ref("TokenKey".into()),
            }]
        );
        let secret = |id: &str| t.secrets.iter().find(|s| s.logical_id == id).unwrap();
        let signing = secret("SigningSecret");
        assert_eq!(
            signing.kms_key_id,
            Some(Expr::GetAtt("TokenKey".into(), "Arn".into()))
        );
        match &signing.source {
            SecretSource::Generate(g) => {
                assert_eq!(g.password_length, 24);
                assert!(g.exclude_punctuation && !g.exclude_numbers);
                assert!(g.require_each_included_type);
                assert_eq!(g.template, None);
            }
            other => panic!("{other:?}"),
        }
        match &secret("DbSecret").source {
            SecretSource::Generate(g) => {
                assert_eq!(g.password_length, 32);
                assert_eq!(g.exclude_characters, "\"@/\\");
                let (tpl, key) = g.template.as_ref().unwrap();
                assert_eq!(key, "password");
                assert!(matches!(tpl, Expr::Sub(..)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            secret("FixedSecret").source,
            SecretSource::Given(Expr::Lit("whsec_Zm9v".into()))
        );
        assert_eq!(secret("GivenSecret").source, SecretSource::Unset);
        // Policies (SAM policy templates with intrinsics inside) do not get in the way.
        assert_eq!(t.functions[0].binary, "echo");
    }

    #[test]
    fn bad_security_resources_are_errors() {
        let cases = [
            (
                "      SecretString: whsec_Zm9v\n",
                "      SecretString: whsec_Zm9v\n      GenerateSecretString: {}\n",
                "cannot both",
            ),
            ("        GenerateStringKey: password\n", "", "together"),
            (
                "      Description: Webhook signing secrets.\n",
                "      Description: Webhook signing secrets.\n      RotationRules: {}\n",
                "RotationRules",
            ),
            (
                "      AliasName: alias/crosspost-tokens\n",
                "      AliasName: crosspost-tokens\n",
                "alias/",
            ),
            (
                "      TargetKeyId: !Ref TokenKey\n",
                "      TargetKeyId: !Ref SigningSecret\n",
                "not an AWS::KMS::Key",
            ),
            (
                "      EnableKeyRotation: true\n",
                "      EnableKeyRotation: true\n      Origin: EXTERNAL\n",
                "EXTERNAL",
            ),
            (
                "        PasswordLength: 24\n",
                "        PasswordLength: 0\n",
                "PasswordLength",
            ),
        ];
        for (from, to, expected) in cases {
            assert_eq!(SECURITY.matches(from).count(), 1, "{from}");
            let text = SECURITY.replace(from, to);
            let err = format!("{:#}", Template::parse(&text).unwrap_err());
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
