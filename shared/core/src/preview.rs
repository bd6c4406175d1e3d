//! What each network would receive for a text: the one place `POST /v1/preview`,
//! `crosspost preview` and the workers ask.

use crate::text::{self, ContentTooLong, Part};
use crate::{Network, Overflow};
use serde::Serialize;

/// A text adapted to one network's rules under an overflow policy.
pub fn adapt(
    network: Network,
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
) -> Result<Vec<Part>, ContentTooLong> {
    match network {
        Network::X => text::x::adapt_for_x(text, link, overflow),
        Network::Facebook => text::facebook::adapt_for_facebook(text, link, overflow),
    }
}

/// One network's preview: the parts, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPreview {
    pub network: Network,
    pub parts: Vec<Part>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn preview(
    network: Network,
    text: &str,
    link: Option<&str>,
    overflow: Overflow,
) -> NetworkPreview {
    match adapt(network, text, link, overflow) {
        Ok(parts) => NetworkPreview {
            network,
            parts,
            error: None,
        },
        Err(e) => NetworkPreview {
            network,
            parts: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_chinese_text_is_a_thread_on_x_and_one_post_on_facebook() {
        let text = "春".repeat(300);
        let x = preview(Network::X, &text, None, Overflow::Thread);
        assert!(x.parts.len() >= 3, "{x:?}");
        assert!(x.parts.iter().all(|p| p.weighted_length <= 280));
        let fb = preview(Network::Facebook, &text, None, Overflow::Thread);
        assert_eq!(fb.parts.len(), 1);
        assert_eq!(fb.parts[0].weighted_length, 300);
        let rejected = preview(Network::X, &text, None, Overflow::Reject);
        assert!(rejected.parts.is_empty());
        assert!(rejected.error.unwrap().starts_with("content_too_long"));
    }
}
