//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::{network_worker, Grant};

pub const GRANTS: &[Grant] = &network_worker(
    "XQueue",
    Grant::new(
        "TokenKey",
        &["kms:Decrypt", "kms:GenerateDataKey"],
        "Sealer: open (Decrypt), seal of refreshed tokens (GenerateDataKey)",
    )
    .bound_to(&["USER#*/ACCOUNT#x#*"]),
    "XOAuthClient",
);

crosspost_lambda::template_grants_test!("PublishXFunction");
