//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::Grant;

pub const GRANTS: &[Grant] = &[
    Grant {
        resource: "AccountsTable",
        actions: &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        ],
        encryption_context: &[],
        called_by: "AccountsStore: get (GetItem), put_pending_link (PutItem), link \
                    (UpdateItem), take_pending_link and delete (DeleteItem)",
    },
    Grant {
        resource: "PostsTable",
        actions: &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
        encryption_context: &[],
        called_by: "PostsStore: get_post (GetItem), claim_webhook_id (PutItem), \
                    fail_waiting (UpdateItem)",
    },
    Grant {
        resource: "PostsTable/index/AccountDeliveries",
        actions: &["dynamodb:Query"],
        encryption_context: &[],
        called_by: "PostsStore::open_deliveries_of",
    },
    Grant {
        resource: "EventsQueue",
        actions: &["sqs:SendMessage"],
        encryption_context: &[],
        called_by: "EventQueue::send (unlink's delivery.failed events)",
    },
    Grant {
        resource: "TokenKey",
        actions: &["kms:Decrypt", "kms:GenerateDataKey"],
        // Links and unlinks accounts of both networks; seals PKCE verifiers under the
        // pending link's key.
        encryption_context: &[
            "USER#*/ACCOUNT#x#*",
            "USER#*/ACCOUNT#facebook#*",
            "USER#*/ACCOUNT#bluesky#*",
            "OAUTH#*",
        ],
        called_by: "Sealer: seal (GenerateDataKey), open (Decrypt)",
    },
    Grant {
        resource: "WebhookSigningSecret",
        actions: &["secretsmanager:GetSecretValue"],
        encryption_context: &[],
        called_by: "main: secrets::read_secret",
    },
    Grant {
        resource: "XOAuthClient",
        actions: &["secretsmanager:GetSecretValue"],
        encryption_context: &[],
        called_by: "main: secrets::read_secret",
    },
    Grant {
        resource: "FacebookApp",
        actions: &["secretsmanager:GetSecretValue"],
        encryption_context: &[],
        called_by: "main: secrets::read_secret",
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_grants_exactly_what_the_code_calls() {
        crosspost_lambda::iam::check_template_grants("ConnectFunction", super::GRANTS).unwrap();
    }
}
