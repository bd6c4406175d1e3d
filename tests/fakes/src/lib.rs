//! In-process fake X (API v2) and Facebook Graph API (Pages) servers for end-to-end
//! tests and the local demo.
//!
//! Each fake binds `127.0.0.1:0`, records every request it receives (with the status it
//! answered) and checks requests as strictly as the real API: a fake that accepts what
//! the real API rejects would make the tests lie.
//!
//! Tests can make a fake misbehave for the next requests with [`FaultRule`]s (server
//! errors, rate limits, slow answers, dropped connections, requests applied but never
//! answered): see [`FakeX::inject`] and [`Fault`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let x = crosspost_fakes::FakeX::start().await?;
//! x.add_account("1001", "token-1001");
//! // point the X client at x.base_url() ...
//! assert!(x.tweets().is_empty());
//! # Ok(()) }
//! ```

mod contract;
mod events;
mod facebook;
mod fault;
mod media_host;
mod pds_proxy;
pub mod photos;
mod server;
mod x;

pub use contract::{Contract, ContractAnswer, ContractRequest};
pub use events::EventsReceiver;
pub use facebook::{FakeFacebook, PagePhoto, PagePost, PageVideo, VideoState};
pub use fault::{Fault, FaultRule, RandomFaults};
pub use media_host::{mp4_file, tiny_gif, tiny_jpeg_header, tiny_png, tiny_png_with, MediaHost};
pub use pds_proxy::{FaultProxy, ProxiedRequest};
pub use server::{Controls, RecordedRequest};
pub use x::{FakeX, Tweet, UploadedMedia};
