//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::Grant;

pub const GRANTS: &[Grant] = &[
    Grant {
        resource: "PostsTable",
        // TransactWriteItems is authorised as the PutItem of each item it writes.
        actions: &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
        ],
        encryption_context: &[],
        called_by: "PostsStore: webhook_use, source_guard, get_post (GetItem); create_post \
                    (TransactWriteItems), claim_webhook_id (PutItem); take_enqueue_lease, \
                    mark_enqueued, transition (UpdateItem); deliveries (Query)",
    },
    Grant {
        resource: "AccountsTable",
        actions: &["dynamodb:GetItem", "dynamodb:Query"],
        encryption_context: &[],
        called_by: "AccountsStore: get (GetItem), list (Query)",
    },
    Grant {
        resource: "XQueue",
        actions: &["sqs:SendMessage"],
        encryption_context: &[],
        called_by: "DeliveryQueues::enqueue (SendMessageBatch)",
    },
    Grant {
        resource: "FacebookQueue",
        actions: &["sqs:SendMessage"],
        encryption_context: &[],
        called_by: "DeliveryQueues::enqueue (SendMessageBatch)",
    },
    Grant {
        resource: "BlueskyQueue",
        actions: &["sqs:SendMessage"],
        encryption_context: &[],
        called_by: "DeliveryQueues::enqueue (SendMessageBatch)",
    },
    Grant {
        resource: "WebhookSigningSecret",
        actions: &["secretsmanager:GetSecretValue"],
        encryption_context: &[],
        called_by: "main: secrets::read_secret",
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_grants_exactly_what_the_code_calls() {
        crosspost_lambda::iam::check_template_grants("WebhookFunction", super::GRANTS).unwrap();
    }
}
