//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::Grant;

pub const GRANTS: &[Grant] = &[
    Grant::new(
        "PostsTable",
        // TransactWriteItems is authorised as the PutItem of each item it writes.
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
        ],
        "PostsStore: webhook_use, source_guard, get_post (GetItem); create_post \
         (TransactWriteItems), claim_webhook_id (PutItem); take_enqueue_lease, \
         mark_enqueued, transition (UpdateItem); deliveries (Query)",
    ),
    Grant::new(
        "AccountsTable",
        &["dynamodb:GetItem", "dynamodb:Query"],
        "AccountsStore: get (GetItem), list (Query)",
    ),
    Grant::send_to("XQueue", "DeliveryQueues::enqueue (SendMessageBatch)"),
    Grant::send_to(
        "FacebookQueue",
        "DeliveryQueues::enqueue (SendMessageBatch)",
    ),
    Grant::send_to("BlueskyQueue", "DeliveryQueues::enqueue (SendMessageBatch)"),
    Grant::secret("WebhookSigningSecret"),
];

crosspost_lambda::template_grants_test!("WebhookFunction");
