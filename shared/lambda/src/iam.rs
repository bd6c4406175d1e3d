//! What a function may do in AWS: each function keeps, beside the code that makes the
//! calls, the list of actions it calls on which of the template's resources
//! ([`Grant`]), and its test checks that template.yaml grants exactly those
//! ([`check_grants`]): an action the code does not call, a resource it does not touch,
//! or a KMS grant not bound to its network's encryption context fails the test.

/// Actions on one template resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The resource's logical id in template.yaml; a table's index is
    /// `Table/index/Name`.
    pub resource: &'static str,
    pub actions: &'static [&'static str],
    /// For a KMS key: the `account` encryption-context values (IAM `StringLike`
    /// patterns) the calls are bound to.
    pub encryption_context: &'static [&'static str],
    /// The code that makes the calls, for the reader.
    pub called_by: &'static str,
}

impl Grant {
    /// `actions` on `resource`, made by the code `called_by`.
    pub const fn new(
        resource: &'static str,
        actions: &'static [&'static str],
        called_by: &'static str,
    ) -> Self {
        Grant {
            resource,
            actions,
            encryption_context: &[],
            called_by,
        }
    }

    /// The same grant bound to these `account` encryption-context patterns (a KMS key).
    pub const fn bound_to(self, encryption_context: &'static [&'static str]) -> Self {
        Grant {
            encryption_context,
            ..self
        }
    }

    /// A Secrets Manager secret read once per cold start (`secrets::read_secret`).
    pub const fn secret(resource: &'static str) -> Self {
        Grant::new(
            resource,
            &["secretsmanager:GetSecretValue"],
            "main: secrets::read_secret",
        )
    }

    /// The SQS queue that triggers the function: ReceiveMessage, DeleteMessage and
    /// GetQueueAttributes are Lambda's trigger, which polls with the function's role;
    /// ChangeMessageVisibility is the code's (`called_by`).
    pub const fn trigger_queue(resource: &'static str, called_by: &'static str) -> Self {
        Grant::new(
            resource,
            &[
                "sqs:ChangeMessageVisibility",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            called_by,
        )
    }

    /// `sqs:SendMessage` (SendMessageBatch is authorised as it) on a queue.
    pub const fn send_to(resource: &'static str, called_by: &'static str) -> Self {
        Grant::new(resource, &["sqs:SendMessage"], called_by)
    }
}

/// What a network's worker (`shared/lambda/src/worker/`) calls, whichever network:
/// PostsTable and AccountsTable through the worker's stores, its own queue (`queue`),
/// the events queue; then its own token key grant and its network's secret.
pub const fn network_worker(
    queue: &'static str,
    token_key: Grant,
    secret: &'static str,
) -> [Grant; 6] {
    [
        Grant::new(
            "PostsTable",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            "PostsStore as the worker's DeliveryStore: get_post (GetItem); claim, conclude \
             (UpdateItem); record_part (TransactWriteItems of a PutItem of the remote \
             post's owner and an UpdateItem of the delivery)",
        ),
        Grant::new(
            "AccountsTable",
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
            ],
            "AccountsStore as the worker's AccountStore: get_with_network_limit \
             (BatchGetItem); get, network_limit (GetItem); \
             mark_needs_reauth, set_rate_limited, set_network_limit, the refresh lease and \
             store_refreshed (UpdateItem)",
        ),
        Grant::trigger_queue(
            queue,
            "WorkQueue: make_visible, delay (ChangeMessageVisibility); the SQS trigger",
        ),
        Grant::send_to("EventsQueue", "EventQueue::send"),
        token_key,
        Grant::secret(secret),
    ]
}

/// The test every function keeps beside its `GRANTS`: template.yaml grants the
/// function `$logical_id` exactly those ([`check_template_grants`]).
#[macro_export]
macro_rules! template_grants_test {
    ($logical_id:literal) => {
        #[cfg(test)]
        mod tests {
            #[test]
            fn the_template_grants_exactly_what_the_code_calls() {
                $crate::iam::check_template_grants($logical_id, super::GRANTS).unwrap();
            }
        }
    };
}

/// The encryption-context key of sealed tokens (`crosspost_aws::seal`).
pub const CONTEXT_CONDITION: &str = "kms:EncryptionContext:account";

#[cfg(feature = "route-checks")]
mod check {
    use super::{Grant, CONTEXT_CONDITION};
    use serde_yaml::Value;
    use std::collections::{BTreeMap, BTreeSet};

    /// The logical id (and `/index/…` suffix) a `Resource` entry names.
    fn resource_name(v: &Value) -> Result<String, String> {
        let Value::Tagged(t) = v else {
            return Err(format!(
                "a Resource must be !GetAtt, !Ref or !Sub, not {v:?}"
            ));
        };
        let text = t.value.as_str().unwrap_or_default();
        match t.tag.to_string().as_str() {
            "!GetAtt" => text
                .strip_suffix(".Arn")
                .map(str::to_owned)
                .ok_or_else(|| format!("!GetAtt {text} is not an Arn")),
            "!Ref" => Ok(text.to_owned()),
            "!Sub" => {
                let rest = text
                    .strip_prefix("${")
                    .ok_or_else(|| format!("!Sub {text} does not start with a resource"))?;
                let (name, suffix) = rest
                    .split_once(".Arn}")
                    .ok_or_else(|| format!("!Sub {text} does not start with an Arn"))?;
                Ok(format!("{name}{suffix}"))
            }
            other => Err(format!("unexpected tag {other} in a Resource")),
        }
    }

    fn strings(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Sequence(items) => items.iter().flat_map(strings).collect(),
            _ => Vec::new(),
        }
    }

    /// template.yaml grants the function `logical_id` exactly `grants`: only explicit
    /// `Statement` policies (SAM's policy templates grant more than the code calls),
    /// every one an Allow of named actions on named resources.
    pub fn check_grants(
        template: &Value,
        logical_id: &str,
        grants: &[Grant],
    ) -> Result<(), String> {
        let policies = template["Resources"][logical_id]["Properties"]["Policies"]
            .as_sequence()
            .ok_or_else(|| format!("{logical_id} has no Policies list"))?;
        let mut granted: BTreeSet<(String, String)> = BTreeSet::new();
        let mut contexts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for policy in policies {
            let statements = policy["Statement"].as_sequence().ok_or_else(|| {
                format!("{logical_id}: a policy other than a Statement list: {policy:?}")
            })?;
            for st in statements {
                if st["Effect"].as_str() != Some("Allow") {
                    return Err(format!("{logical_id}: a statement that is not an Allow"));
                }
                let resources: Vec<&Value> = match &st["Resource"] {
                    Value::Sequence(items) => items.iter().collect(),
                    one => vec![one],
                };
                let actions = strings(&st["Action"]);
                if actions.is_empty() || actions.iter().any(|a| a.contains('*')) {
                    return Err(format!(
                        "{logical_id}: actions must be named, not {actions:?}"
                    ));
                }
                for r in resources {
                    let name = resource_name(r).map_err(|e| format!("{logical_id}: {e}"))?;
                    let bound = strings(&st["Condition"]["StringLike"][CONTEXT_CONDITION]);
                    if actions.iter().any(|a| a.starts_with("kms:")) {
                        if bound.is_empty() {
                            return Err(format!(
                                "{logical_id}: KMS use of {name} is not bound to an encryption context"
                            ));
                        }
                        contexts.entry(name.clone()).or_default().extend(bound);
                    }
                    for a in &actions {
                        granted.insert((name.clone(), a.clone()));
                    }
                }
            }
        }
        let called: BTreeSet<(String, String)> = grants
            .iter()
            .flat_map(|g| {
                g.actions
                    .iter()
                    .map(|a| (g.resource.to_owned(), (*a).to_owned()))
            })
            .collect();
        let extra: Vec<_> = granted.difference(&called).collect();
        let missing: Vec<_> = called.difference(&granted).collect();
        if !extra.is_empty() || !missing.is_empty() {
            return Err(format!(
                "{logical_id}: template.yaml grants {extra:?} that the code does not call, and lacks {missing:?} that it does"
            ));
        }
        for g in grants
            .iter()
            .filter(|g| g.actions.iter().any(|a| a.starts_with("kms:")))
        {
            let want: BTreeSet<String> = g
                .encryption_context
                .iter()
                .map(|c| (*c).to_owned())
                .collect();
            let have = contexts.get(g.resource).cloned().unwrap_or_default();
            if want != have {
                return Err(format!(
                    "{logical_id}: {} is bound to encryption contexts {have:?}, the code uses {want:?}",
                    g.resource
                ));
            }
        }
        Ok(())
    }

    /// [`check_grants`] against the repository's template.yaml.
    pub fn check_template_grants(logical_id: &str, grants: &[Grant]) -> Result<(), String> {
        let template: Value = serde_yaml::from_str(include_str!("../../../template.yaml"))
            .map_err(|e| format!("template.yaml does not parse: {e}"))?;
        check_grants(&template, logical_id, grants)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const GRANTS: &[Grant] = &[
            Grant {
                resource: "PostsTable",
                actions: &["dynamodb:GetItem"],
                encryption_context: &[],
                called_by: "test",
            },
            Grant {
                resource: "TokenKey",
                actions: &["kms:Decrypt"],
                encryption_context: &["USER#*/ACCOUNT#x#*"],
                called_by: "test",
            },
        ];

        fn template(policies: &str) -> Value {
            serde_yaml::from_str(&format!(
                "Resources:\n  F:\n    Properties:\n      Policies:\n{policies}"
            ))
            .unwrap()
        }

        const EXACT: &str = r#"        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem]
              Resource: !GetAtt PostsTable.Arn
            - Effect: Allow
              Action: kms:Decrypt
              Resource: !GetAtt TokenKey.Arn
              Condition:
                StringLike:
                  kms:EncryptionContext:account: ["USER#*/ACCOUNT#x#*"]
"#;

        #[test]
        fn exactly_the_called_actions_pass() {
            check_grants(&template(EXACT), "F", GRANTS).unwrap();
        }

        #[test]
        fn an_action_the_code_does_not_call_fails() {
            let more = EXACT.replace(
                "[dynamodb:GetItem]",
                "[dynamodb:GetItem, dynamodb:DeleteItem]",
            );
            let e = check_grants(&template(&more), "F", GRANTS).unwrap_err();
            assert!(e.contains("DeleteItem"), "{e}");
        }

        #[test]
        fn a_policy_template_or_an_unbound_key_fails() {
            let sam = "        - DynamoDBCrudPolicy:\n            TableName: !Ref PostsTable\n";
            assert!(check_grants(&template(sam), "F", GRANTS)
                .unwrap_err()
                .contains("other than a Statement"));
            let unbound = EXACT.replace("              Condition:\n                StringLike:\n                  kms:EncryptionContext:account: [\"USER#*/ACCOUNT#x#*\"]\n", "");
            assert!(check_grants(&template(&unbound), "F", GRANTS)
                .unwrap_err()
                .contains("not bound"));
            let other_network = EXACT.replace("ACCOUNT#x#", "ACCOUNT#facebook#");
            assert!(check_grants(&template(&other_network), "F", GRANTS)
                .unwrap_err()
                .contains("encryption contexts"));
        }
    }
}

#[cfg(feature = "route-checks")]
pub use check::{check_grants, check_template_grants};
