//! Crosspost's domain: what a post, a delivery and a linked account are, the delivery
//! states, the queue message, and the table keys. Pure: no AWS SDK, no HTTP, no clock
//! or randomness it was not handed.

pub mod account;
pub mod delivery;
pub mod keys;
pub mod linking;
pub mod media;
pub mod network;
pub mod post;
pub mod preview;
pub mod publish;
pub mod reconcile;
pub mod retry;
pub mod secret;
pub mod signing;
pub mod text;

pub use account::{AccountStatus, LinkedAccount, RefreshedTokens, SealedAccount, TokenRefresher};
pub use delivery::{DeliveryMessage, DeliveryOp, DeliveryStatus};
pub use linking::Linker;
pub use network::{Network, UnknownNetwork};
pub use post::{
    FieldError, IncomingTarget, MediaHosts, MediaItem, Overflow, PostId, ValidatedPost,
};
pub use publish::{OutgoingPart, PublishError, Publisher, RateLimitScope, RemotePost, Window};
pub use secret::{SealedToken, Secret};
