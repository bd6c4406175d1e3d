//! What each network would receive for a text: the one place `POST /v1/preview`,
//! `crosspost preview` and the workers ask.

use crate::media::MediaPlan;
use crate::text::{self, ContentTooLong, Part};
use crate::{Mentions, Network, Overflow};
use serde::Serialize;

/// A post's text adapted to one network's rules under an overflow policy and a
/// mentions policy (the parts' text is what the network gets, word joiners included);
/// `has_media`: whether the post has media, which decides where Facebook shows the
/// link ([`post_text`]).
pub fn adapt(
    network: Network,
    text: &str,
    link: Option<&str>,
    has_media: bool,
    overflow: Overflow,
    mentions: Mentions,
) -> Result<Vec<Part>, ContentTooLong> {
    let text = &*post_text(network, text, link, has_media);
    match network {
        Network::X => text::x::adapt_for_x_with(text, link, overflow, mentions),
        Network::Facebook => {
            text::facebook::adapt_for_facebook_with(text, link, overflow, mentions)
        }
        // Bluesky makes a mention only from a facet (under `keep`, for handles its PDS
        // resolves, when publishing): `@name`s stay text under either policy.
        Network::Bluesky => text::bluesky::adapt_for_bluesky(text, link, overflow),
    }
}

/// The text a network is given for a post with or without media, before it is
/// adapted: the text itself, except on Facebook, which shows a post's `link` only on a
/// text post (a link card, the `link` of `POST /{page-id}/feed`); a photo or video
/// post has no place for it, so there the link goes at the end of the text, after an
/// empty line, unless the text holds it already. Every reader of a delivery's parts
/// (intake's first-part lease, the worker, the preview) gets it through [`adapt`].
pub fn post_text<'a>(
    network: Network,
    text: &'a str,
    link: Option<&str>,
    has_media: bool,
) -> std::borrow::Cow<'a, str> {
    match link.map(str::trim).filter(|l| !l.is_empty()) {
        Some(link) if network == Network::Facebook && has_media && !text.contains(link) => {
            if text.trim().is_empty() {
                link.to_owned().into()
            } else {
                format!("{}\n\n{link}", text.trim_end()).into()
            }
        }
        _ => text.into(),
    }
}

/// The parts of a thread whose media need more parts than its text: `parts` followed
/// by parts without text, until there are `media_parts` in all. Numbering ` (i/n)`
/// counts the parts with text only.
pub fn extend_for_media(mut parts: Vec<Part>, media_parts: usize) -> Vec<Part> {
    while parts.len() < media_parts {
        parts.push(Part {
            text: String::new(),
            weighted_length: 0,
        });
    }
    parts
}

/// One network's preview: the parts, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPreview {
    pub network: Network,
    pub parts: Vec<Part>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The media the network would attach (each with the `part` that carries it), what
    /// it leaves out and what it refuses.
    pub media: MediaPlan,
}

impl NetworkPreview {
    /// This preview with the network's media plan (see [`crate::media::plan`]); the
    /// parts are extended with parts without text when the media need more of them.
    pub fn with_media(mut self, plan: MediaPlan) -> Self {
        if self.error.is_none() {
            let parts = std::mem::take(&mut self.parts);
            self.parts = extend_for_media(parts, plan.per_part().len());
        }
        self.media = plan;
        self
    }
}

/// What `network` would receive of `text` (this network's own text, when the post
/// gives it one). Bluesky's parts are shown as Bluesky shows them: links without their
/// scheme and cut to 30 characters (their facets keep the full URI).
pub fn preview(
    network: Network,
    text: &str,
    link: Option<&str>,
    has_media: bool,
    overflow: Overflow,
    mentions: Mentions,
) -> NetworkPreview {
    match adapt(network, text, link, has_media, overflow, mentions) {
        Ok(parts) => NetworkPreview {
            network,
            parts: match network {
                Network::Bluesky => parts
                    .into_iter()
                    .map(|p| Part {
                        text: text::bluesky::rich_text(&p.text).text,
                        weighted_length: p.weighted_length,
                    })
                    .collect(),
                _ => parts,
            },
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
        let x = preview(
            Network::X,
            &text,
            None,
            false,
            Overflow::Thread,
            Mentions::Plain,
        );
        assert!(x.parts.len() >= 3, "{x:?}");
        assert!(x.parts.iter().all(|p| p.weighted_length <= 280));
        let fb = preview(
            Network::Facebook,
            &text,
            None,
            false,
            Overflow::Thread,
            Mentions::Plain,
        );
        assert_eq!(fb.parts.len(), 1);
        assert_eq!(fb.parts[0].weighted_length, 300);
        let rejected = preview(
            Network::X,
            &text,
            None,
            false,
            Overflow::Reject,
            Mentions::Plain,
        );
        assert!(rejected.parts.is_empty());
        assert!(rejected.error.unwrap().starts_with("content_too_long"));
    }

    #[test]
    fn a_bluesky_preview_shows_links_as_bluesky_shows_them() {
        let text = "读 https://www.example.com/articles/2026/11/a-very-long-path 吧";
        let bluesky = preview(
            Network::Bluesky,
            text,
            None,
            false,
            Overflow::Thread,
            Mentions::Keep,
        );
        assert_eq!(
            bluesky.parts[0].text,
            "读 example.com/articles/2026/11/… 吧"
        );
        assert_eq!(bluesky.parts[0].weighted_length, 34);
        let x = preview(
            Network::X,
            text,
            None,
            false,
            Overflow::Thread,
            Mentions::Keep,
        );
        assert_eq!(x.parts[0].text, text);
    }

    #[test]
    fn a_facebook_photo_post_carries_its_link_in_its_text() {
        let link = Some("https://moments.example.com/p/42");
        let text = "西湖的秋天";
        assert_eq!(
            post_text(Network::Facebook, text, link, true),
            "西湖的秋天\n\nhttps://moments.example.com/p/42"
        );
        // A text post shows it as a card; X and Bluesky have their own ways.
        assert_eq!(post_text(Network::Facebook, text, link, false), text);
        assert_eq!(post_text(Network::X, text, link, true), text);
        assert_eq!(post_text(Network::Bluesky, text, link, true), text);
        // Once only, and alone when there is no text.
        let with = "看 https://moments.example.com/p/42";
        assert_eq!(post_text(Network::Facebook, with, link, true), with);
        assert_eq!(
            post_text(Network::Facebook, "", link, true),
            "https://moments.example.com/p/42"
        );
        assert_eq!(post_text(Network::Facebook, text, None, true), text);
    }

    #[test]
    fn the_media_plan_rides_along() {
        use crate::media::{plan, MediaKind, Sniffed};
        use crate::MediaItem;
        let media: Vec<MediaItem> = (0..9)
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
        let x = preview(
            Network::X,
            "@Lily 图",
            None,
            false,
            Overflow::Thread,
            Mentions::Plain,
        )
        .with_media(plan(Network::X, &media, &vec![png.clone(); 9]));
        assert_eq!(x.media.attached.len(), 9);
        assert!(x.media.dropped.is_empty());
        // Three parts: the text with images 0-3, then 4-7 and 8 without text.
        let texts: Vec<&str> = x.parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["@\u{2060}Lily 图", "", ""]);
        assert_eq!(x.media.attached[4].part, 1);
        assert_eq!(x.media.attached[8].part, 2);
        let json = serde_json::to_value(&x).unwrap();
        assert_eq!(json["media"]["attached"][0]["kind"], "image");
        assert_eq!(json["media"]["attached"][0]["mime"], "image/png");
        assert_eq!(json["media"]["refused"], serde_json::json!([]));
        assert_eq!(json["media"]["attached"][8]["part"], 2);
        assert_eq!(json["parts"][0]["weighted_length"], 10);

        // Bluesky shows its images per part the same way: 4 + 4 + 1.
        let bsky = preview(
            Network::Bluesky,
            "西湖 #photos",
            None,
            false,
            Overflow::Thread,
            Mentions::Plain,
        )
        .with_media(plan(Network::Bluesky, &media, &vec![png; 9]));
        assert_eq!(bsky.parts.len(), 3);
        let parts: Vec<usize> = bsky.media.attached.iter().map(|m| m.part).collect();
        assert_eq!(parts, [0, 0, 0, 0, 1, 1, 1, 1, 2]);
        assert!(bsky.media.refused.is_empty());
    }
}
