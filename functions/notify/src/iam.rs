//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::Grant;

pub const GRANTS: &[Grant] = &[
    Grant::trigger_queue(
        "EventsQueue",
        "WorkQueue::delay (ChangeMessageVisibility); the SQS trigger",
    ),
    Grant::secret("EventsSigningSecret"),
];

crosspost_lambda::template_grants_test!("NotifyFunction");
