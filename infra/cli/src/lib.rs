//! The `crosspost` operator command's library: the local sandbox that `crosspost demo`,
//! `crosspost dev` and the end-to-end tests all bring up the same way.

pub mod bench;
pub mod client;
pub mod link;
pub mod sandbox;
pub mod table;

pub use sandbox::{Sandbox, SandboxOptions, DEMO_BLUESKY_NAME, DEMO_USER};
