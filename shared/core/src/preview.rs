//! What each network would receive for a text: the one place `POST /v1/preview`,
//! `crosspost preview` and the workers ask.

use crate::media::MediaPlan;
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
        Network::Bluesky => text::bluesky::adapt_for_bluesky(text, link, overflow),
    }
}

/// One network's preview: the parts, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPreview {
    pub network: Network,
    pub parts: Vec<Part>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The media the network would attach (to the first part), what it leaves out and
    /// what it refuses.
    pub media: MediaPlan,
}

impl NetworkPreview {
    /// This preview with the network's media plan (see [`crate::media::plan`]).
    pub fn with_media(mut self, plan: MediaPlan) -> Self {
        self.media = plan;
        self
    }
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
            media: MediaPlan::default(),
        },
        Err(e) => NetworkPreview {
            network,
            parts: Vec::new(),
            error: Some(e.to_string()),
            media: MediaPlan::default(),
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

    #[test]
    fn the_media_plan_rides_along() {
        use crate::media::{plan, MediaKind, Sniffed};
        use crate::MediaItem;
        let media: Vec<MediaItem> = (0..5)
            .map(|i| MediaItem {
                url: format!("https://a.example/{i}.png"),
                alt: None,
                content_type: None,
            })
            .collect();
        let png = Sniffed::Media {
            kind: MediaKind::Image,
            mime: "image/png",
        };
        let x = preview(Network::X, "图", None, Overflow::Thread).with_media(plan(
            Network::X,
            &media,
            &vec![png; 5],
        ));
        assert_eq!(x.media.attached.len(), 4);
        assert_eq!(x.media.dropped[0].index, 4);
        let json = serde_json::to_value(&x).unwrap();
        assert_eq!(json["media"]["attached"][0]["kind"], "image");
        assert_eq!(json["media"]["attached"][0]["mime"], "image/png");
        assert_eq!(json["media"]["refused"], serde_json::json!([]));
        assert_eq!(json["parts"][0]["text"], "图");
    }
}
