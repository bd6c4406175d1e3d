//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::Grant;

pub const GRANTS: &[Grant] = &[
    Grant::new(
        "AccountsTable",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        ],
        "AccountsStore: get (GetItem), put_pending_link (PutItem), link (UpdateItem), \
         take_pending_link (UpdateItem, GetItem, DeleteItem), delete (DeleteItem)",
    ),
    Grant::new(
        "PostsTable",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
        "PostsStore: get_post (GetItem), claim_webhook_id (PutItem), fail_waiting \
         (UpdateItem)",
    ),
    Grant::new(
        "PostsTable/index/AccountDeliveries",
        &["dynamodb:Query"],
        "PostsStore::open_deliveries_of",
    ),
    Grant::send_to(
        "EventsQueue",
        "EventQueue::send (unlink's delivery.failed events)",
    ),
    Grant::new(
        "TokenKey",
        &["kms:Decrypt", "kms:GenerateDataKey"],
        "Sealer: seal (GenerateDataKey), open (Decrypt)",
    )
    // Links and unlinks accounts of both networks; seals PKCE verifiers under the
    // pending link's key.
    .bound_to(&[
        "USER#*/ACCOUNT#x#*",
        "USER#*/ACCOUNT#facebook#*",
        "USER#*/ACCOUNT#bluesky#*",
        "OAUTH#*",
    ]),
    Grant::secret("WebhookSigningSecret"),
    Grant::secret("XOAuthClient"),
    Grant::secret("FacebookApp"),
];

crosspost_lambda::template_grants_test!("ConnectFunction");
