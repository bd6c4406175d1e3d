//! Crosspost's domain: what a post, a delivery and a linked account are, the delivery
//! states, the queue message, and the table keys. Pure: no AWS SDK, no HTTP, no clock
//! or randomness it was not handed.

pub mod account;
pub mod address;
pub mod clock;
pub mod delivery;
pub mod event;
pub mod json;
pub mod keys;
pub mod linking;
pub mod media;
pub mod network;
pub mod ports;
pub mod post;
pub mod preview;
pub mod publish;
pub mod reconcile;
pub mod retry;
pub mod secret;
pub mod signing;
pub mod text;

pub use account::{AccountStatus, LinkedAccount, RefreshedTokens, SealedAccount, TokenRefresher};
pub use clock::Clock;
pub use delivery::{
    DeliveryKey, DeliveryMessage, DeliveryOp, DeliveryRecord, DeliveryStatus, FailureReason,
    LastError, PostRecord, PublishedPart, UploadedMedia,
};
pub use event::{Envelope, Event};
pub use linking::Linker;
pub use network::{Network, UnknownNetwork};
pub use ports::{AccountStore, DeliveryStore, EventSink, StoreError};
pub use post::{
    text_for, FieldError, IncomingTarget, MediaHosts, MediaItem, Mentions, Overflow, PostId,
    ValidatedPost,
};
pub use publish::{
    Candidate, Lookup, OutgoingPart, PublishError, Publisher, RateLimitScope, RemotePost, Upload,
    Window,
};
pub use secret::{SealedToken, Secret};
