//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::Grant;

pub const GRANTS: &[Grant] = &[
    Grant {
        resource: "EventsQueue",
        // ReceiveMessage, DeleteMessage and GetQueueAttributes are Lambda's SQS trigger,
        // which polls with the function's role.
        actions: &[
            "sqs:ChangeMessageVisibility",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ],
        encryption_context: &[],
        called_by: "WorkQueue::delay (ChangeMessageVisibility); the SQS trigger",
    },
    Grant {
        resource: "EventsSigningSecret",
        actions: &["secretsmanager:GetSecretValue"],
        encryption_context: &[],
        called_by: "main: secrets::read_secret",
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_grants_exactly_what_the_code_calls() {
        crosspost_lambda::iam::check_template_grants("NotifyFunction", super::GRANTS).unwrap();
    }
}
