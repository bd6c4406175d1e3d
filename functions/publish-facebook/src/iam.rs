//! The AWS actions this function's code calls, on which of template.yaml's resources;
//! the template grants exactly these (the test below). A new call needs its line here
//! and in the template.

use crosspost_lambda::iam::{network_worker, Grant};

pub const GRANTS: &[Grant] = &network_worker(
    "FacebookQueue",
    Grant::new(
        "TokenKey",
        &["kms:Decrypt"],
        "Sealer::open (Page tokens never need sealing again here)",
    )
    .bound_to(&["USER#*/ACCOUNT#facebook#*"]),
    "FacebookApp",
);

crosspost_lambda::template_grants_test!("PublishFacebookFunction");
