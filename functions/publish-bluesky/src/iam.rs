//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::Grant;

pub const GRANTS: &[Grant] = &[
    Grant {
        resource: "PostsTable",
        actions: &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
        encryption_context: &[],
        called_by: "PostsStore as the worker's DeliveryStore: get_post (GetItem); claim, \
                    conclude (UpdateItem); record_part (TransactWriteItems of a PutItem of \
                    the remote post's owner and an UpdateItem of the delivery)",
    },
    Grant {
        resource: "AccountsTable",
        actions: &[
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
        ],
        encryption_context: &[],
        called_by: "AccountsStore as the worker's AccountStore: get_with_network_limit \
                    (BatchGetItem); get, network_limit \
                    (GetItem); mark_needs_reauth, set_rate_limited, set_network_limit, the \
                    refresh lease and store_refreshed (UpdateItem)",
    },
    Grant {
        resource: "BlueskyQueue",
        // ReceiveMessage, DeleteMessage and GetQueueAttributes are Lambda's SQS trigger,
        // which polls with the function's role.
        actions: &[
            "sqs:ChangeMessageVisibility",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ],
        encryption_context: &[],
        called_by: "WorkQueue: make_visible, delay (ChangeMessageVisibility); the SQS trigger",
    },
    Grant {
        resource: "EventsQueue",
        actions: &["sqs:SendMessage"],
        encryption_context: &[],
        called_by: "EventQueue::send",
    },
    Grant {
        resource: "TokenKey",
        actions: &["kms:Decrypt", "kms:GenerateDataKey"],
        encryption_context: &["USER#*/ACCOUNT#bluesky#*"],
        called_by: "Sealer: open (Decrypt), seal of refreshed tokens (GenerateDataKey)",
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_grants_exactly_what_the_code_calls() {
        crosspost_lambda::iam::check_template_grants("PublishBlueskyFunction", super::GRANTS)
            .unwrap();
    }
}
