//! Creates the template's tables on DynamoDB Local and its queues, KMS keys and aliases
//! and secrets on moto.

use crate::template::{
    GenerateSecretSpec, IndexSpec, KmsAliasSpec, KmsKeyInfo, KmsKeySpec, QueueInfo, QueueSpec,
    Resolver, SecretSource, SecretSpec, TableSpec,
};
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::error::DisplayErrorContext as SqsErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::BTreeMap;

fn key_schema(keys: &[(String, String)]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|(name, ty)| {
            Ok(KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(ty.as_str()))
                .build()?)
        })
        .collect()
}

fn throughput((read, write): (i64, i64)) -> Result<ProvisionedThroughput> {
    Ok(ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()?)
}

fn projection(ix: &IndexSpec) -> Projection {
    let mut p =
        Projection::builder().projection_type(ProjectionType::from(ix.projection_type.as_str()));
    for a in &ix.non_key_attributes {
        p = p.non_key_attributes(a);
    }
    p.build()
}

/// Creates one table named by its logical id; returns its ARN.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, t: &TableSpec) -> Result<String> {
    let mut req = client.create_table().table_name(&t.logical_id);
    for (name, ty) in &t.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()?,
        );
    }
    req = req.set_key_schema(Some(key_schema(&t.key_schema)?));
    if let Some(mode) = &t.billing_mode {
        req = req.billing_mode(BillingMode::from(mode.as_str()));
    }
    if let Some(p) = t.provisioned {
        req = req.provisioned_throughput(throughput(p)?);
    }
    for ix in &t.global_secondary_indexes {
        let mut g = GlobalSecondaryIndex::builder()
            .index_name(&ix.name)
            .set_key_schema(Some(key_schema(&ix.key_schema)?))
            .projection(projection(ix));
        if let Some(p) = ix.provisioned {
            g = g.provisioned_throughput(throughput(p)?);
        }
        req = req.global_secondary_indexes(g.build()?);
    }
    for ix in &t.local_secondary_indexes {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&ix.name)
                .set_key_schema(Some(key_schema(&ix.key_schema)?))
                .projection(projection(ix))
                .build()?,
        );
    }
    let out = req.send().await.map_err(|e| {
        anyhow!(
            "CreateTable {} on DynamoDB Local: {}",
            t.logical_id,
            DisplayErrorContext(&e)
        )
    })?;
    let arn = out
        .table_description()
        .and_then(|d| d.table_arn())
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "arn:aws:dynamodb:ddblocal:000000000000:table/{}",
                t.logical_id
            )
        });
    if let Some((attr, true)) = &t.ttl {
        client
            .update_time_to_live()
            .table_name(&t.logical_id)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "UpdateTimeToLive {} on DynamoDB Local: {}",
                    t.logical_id,
                    DisplayErrorContext(&e)
                )
            })?;
    }
    // PointInTimeRecoverySpecification is not applied: DynamoDB Local has no backups.
    Ok(arn)
}

/// Creates one queue named by its logical id; every queue it refers to must already be
/// in `resolver`. Adds it to `resolver`.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    q: &QueueSpec,
    resolver: &mut Resolver,
) -> Result<()> {
    let id = &q.logical_id;
    let mut req = client.create_queue().queue_name(id);
    for (name, value) in &q.attributes {
        let value = resolver
            .resolve(value)
            .with_context(|| format!("queue {id}: {name}"))?;
        req = req.attributes(QueueAttributeName::from(name.as_str()), value);
    }
    if let Some(r) = &q.redrive {
        let arn = resolver
            .resolve(&r.dead_letter_target_arn)
            .with_context(|| format!("queue {id}: RedrivePolicy.deadLetterTargetArn"))?;
        let count = match r.max_receive_count.parse::<u64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) => serde_json::Value::from(r.max_receive_count.clone()),
        };
        let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": count});
        req = req.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let out = req
        .send()
        .await
        .map_err(|e| anyhow!("CreateQueue {id} on moto: {}", SqsErrorContext(&e)))?;
    let url = out
        .queue_url()
        .context("CreateQueue returned no URL")?
        .to_string();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow!("GetQueueAttributes {id} on moto: {}", SqsErrorContext(&e)))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .context("moto returned no QueueArn")?
        .clone();
    resolver.queues.insert(
        id.clone(),
        QueueInfo {
            name: id.clone(),
            url,
            arn,
        },
    );
    Ok(())
}

/// Creates one symmetric (unless the template says otherwise) KMS key; adds it to
/// `resolver`.
pub async fn create_kms_key(
    client: &aws_sdk_kms::Client,
    k: &KmsKeySpec,
    resolver: &mut Resolver,
) -> Result<()> {
    use aws_sdk_kms::error::DisplayErrorContext;
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let id = &k.logical_id;
    let out = client
        .create_key()
        .key_spec(KeySpec::from(k.key_spec.as_str()))
        .key_usage(KeyUsageType::from(k.key_usage.as_str()))
        .send()
        .await
        .map_err(|e| anyhow!("CreateKey {id} on moto: {}", DisplayErrorContext(&e)))?;
    let meta = out
        .key_metadata()
        .with_context(|| format!("CreateKey {id}: moto returned no key metadata"))?;
    let key_id = meta.key_id().to_string();
    let arn = meta
        .arn()
        .map(str::to_string)
        .with_context(|| format!("CreateKey {id}: moto returned no ARN"))?;
    if !k.enabled {
        client
            .disable_key()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| anyhow!("DisableKey {id} on moto: {}", DisplayErrorContext(&e)))?;
    }
    resolver
        .kms_keys
        .insert(id.clone(), KmsKeyInfo { key_id, arn });
    Ok(())
}

/// Creates one KMS alias; its key must already be in `resolver`.
pub async fn create_kms_alias(
    client: &aws_sdk_kms::Client,
    a: &KmsAliasSpec,
    resolver: &mut Resolver,
) -> Result<()> {
    use aws_sdk_kms::error::DisplayErrorContext;
    let id = &a.logical_id;
    let target = resolver
        .resolve(&a.target_key_id)
        .with_context(|| format!("KMS alias {id}: TargetKeyId"))?;
    client
        .create_alias()
        .alias_name(&a.alias_name)
        .target_key_id(target)
        .send()
        .await
        .map_err(|e| anyhow!("CreateAlias {id} on moto: {}", DisplayErrorContext(&e)))?;
    resolver
        .kms_aliases
        .insert(id.clone(), a.alias_name.clone());
    Ok(())
}

/// The secret's first value: the caller's value, else `SecretString`, else a generated one.
pub fn secret_value(
    s: &SecretSpec,
    given: &BTreeMap<String, String>,
    resolver: &Resolver,
) -> Result<String> {
    let id = &s.logical_id;
    if let Some(v) = given.get(id) {
        return Ok(v.clone());
    }
    match &s.source {
        SecretSource::Given(e) => resolver
            .resolve(e)
            .with_context(|| format!("secret {id}: SecretString")),
        SecretSource::Generate(g) => {
            let random = generate_password(g).with_context(|| format!("secret {id}"))?;
            let Some((template, key)) = &g.template else {
                return Ok(random);
            };
            let text = resolver
                .resolve(template)
                .with_context(|| format!("secret {id}: SecretStringTemplate"))?;
            let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
                .with_context(|| {
                format!("secret {id}: SecretStringTemplate is not a JSON object")
            })?;
            obj.insert(key.clone(), serde_json::Value::String(random));
            Ok(serde_json::Value::Object(obj).to_string())
        }
        SecretSource::Unset => bail!(
            "secret {id} has neither SecretString nor GenerateSecretString in the template; \
             give its value in StackOptions::secret_values"
        ),
    }
}

/// Creates one secret named by its logical id with its first value; adds its ARN to
/// `resolver`.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    s: &SecretSpec,
    value: String,
    resolver: &mut Resolver,
) -> Result<()> {
    use aws_sdk_secretsmanager::error::DisplayErrorContext;
    let id = &s.logical_id;
    let kms_key_id = s
        .kms_key_id
        .as_ref()
        .map(|e| resolver.resolve(e))
        .transpose()
        .with_context(|| format!("secret {id}: KmsKeyId"))?;
    let out = client
        .create_secret()
        .name(id)
        .secret_string(value)
        .set_kms_key_id(kms_key_id)
        .send()
        .await
        .map_err(|e| anyhow!("CreateSecret {id} on moto: {}", DisplayErrorContext(&e)))?;
    let arn = out
        .arn()
        .with_context(|| format!("CreateSecret {id}: moto returned no ARN"))?
        .to_string();
    resolver.secrets.insert(id.clone(), arn);
    Ok(())
}

/// Secrets Manager's punctuation set (GetRandomPassword).
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// A uniformly random index below `n` (n > 0), from the OS's random source.
fn random_below(n: usize) -> Result<usize> {
    let n = u64::try_from(n).context("range too large")?;
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| anyhow!("no random bytes: {e}"))?;
        let x = u64::from_le_bytes(b);
        if x < zone {
            return Ok((x % n) as usize);
        }
    }
}

/// A random string following `GenerateSecretString`'s rules, as Secrets Manager's
/// GetRandomPassword would make it.
pub fn generate_password(g: &GenerateSecretSpec) -> Result<String> {
    let keep = |set: &str| -> Vec<char> {
        set.chars()
            .filter(|c| !g.exclude_characters.contains(*c))
            .collect()
    };
    let mut classes: Vec<Vec<char>> = Vec::new();
    if !g.exclude_lowercase {
        classes.push(keep("abcdefghijklmnopqrstuvwxyz"));
    }
    if !g.exclude_uppercase {
        classes.push(keep("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    }
    if !g.exclude_numbers {
        classes.push(keep("0123456789"));
    }
    if !g.exclude_punctuation {
        classes.push(keep(PUNCTUATION));
    }
    if g.include_space {
        classes.push(keep(" "));
    }
    classes.retain(|c| !c.is_empty());
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    if all.is_empty() {
        bail!("GenerateSecretString excludes every character");
    }
    let mut out: Vec<char> = Vec::with_capacity(g.password_length);
    if g.require_each_included_type {
        if g.password_length < classes.len() {
            bail!(
                "GenerateSecretString: PasswordLength {} is shorter than the {} character types \
                 required (RequireEachIncludedType)",
                g.password_length,
                classes.len()
            );
        }
        for c in &classes {
            out.push(c[random_below(c.len())?]);
        }
    }
    while out.len() < g.password_length {
        out.push(all[random_below(all.len())?]);
    }
    // Fisher-Yates, so the required characters are not all at the front.
    for i in (1..out.len()).rev() {
        let j = random_below(i + 1)?;
        out.swap(i, j);
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Expr;

    fn spec() -> GenerateSecretSpec {
        GenerateSecretSpec {
            password_length: 32,
            exclude_characters: String::new(),
            exclude_lowercase: false,
            exclude_uppercase: false,
            exclude_numbers: false,
            exclude_punctuation: false,
            include_space: false,
            require_each_included_type: true,
            template: None,
        }
    }

    #[test]
    fn generated_passwords_follow_the_rules() {
        let mut g = spec();
        g.exclude_punctuation = true;
        g.exclude_characters = "aeiouAEIOU0".into();
        g.password_length = 40;
        for _ in 0..50 {
            let p = generate_password(&g).unwrap();
            assert_eq!(p.chars().count(), 40);
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric()), "{p}");
            assert!(!p.chars().any(|c| "aeiouAEIOU0".contains(c)), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
        }
        assert_ne!(
            generate_password(&g).unwrap(),
            generate_password(&g).unwrap()
        );

        g.password_length = 2;
        assert!(
            generate_password(&g).is_err(),
            "three types cannot fit in two"
        );
        g.require_each_included_type = false;
        assert_eq!(generate_password(&g).unwrap().len(), 2);

        let mut none = spec();
        none.exclude_lowercase = true;
        none.exclude_uppercase = true;
        none.exclude_numbers = true;
        none.exclude_punctuation = true;
        assert!(generate_password(&none).is_err());
    }

    #[test]
    fn secret_value_prefers_given_then_template_then_generated() {
        let r = Resolver {
            parameters: BTreeMap::from([("User".to_string(), "app".to_string())]),
            ..Default::default()
        };
        let mut g = spec();
        g.template = Some((
            Expr::Sub(r#"{"username":"${User}"}"#.into(), BTreeMap::new()),
            "password".into(),
        ));
        let generated = SecretSpec {
            logical_id: "Db".into(),
            source: SecretSource::Generate(g),
            kms_key_id: None,
        };
        let v: serde_json::Value =
            serde_json::from_str(&secret_value(&generated, &BTreeMap::new(), &r).unwrap()).unwrap();
        assert_eq!(v["username"], "app");
        assert_eq!(v["password"].as_str().unwrap().len(), 32);

        let given = BTreeMap::from([("Db".to_string(), "mine".to_string())]);
        assert_eq!(secret_value(&generated, &given, &r).unwrap(), "mine");

        let literal = SecretSpec {
            logical_id: "Lit".into(),
            source: SecretSource::Given(Expr::Lit("whsec_abc".into())),
            kms_key_id: None,
        };
        assert_eq!(
            secret_value(&literal, &BTreeMap::new(), &r).unwrap(),
            "whsec_abc"
        );

        let unset = SecretSpec {
            logical_id: "Nothing".into(),
            source: SecretSource::Unset,
            kms_key_id: None,
        };
        let err = secret_value(&unset, &BTreeMap::new(), &r)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Nothing"), "{err}");
    }
}
