//! Which of a post's media each network attaches: the media plan.
//!
//! X takes at most 4 images, or 1 GIF, or 1 video, never a mix. When a post carries
//! more than that, the plan keeps what the person most likely meant and says what it
//! leaves out:
//! - the first item decides: when it is an image, the first 4 images are attached and
//!   every GIF or video is left out; when it is a GIF or a video, it is attached alone;
//! - an item whose kind neither its `content_type` nor its URL's extension tells is
//!   planned as an image (the commonest case); the worker checks the downloaded bytes
//!   and refuses the item as `media_unsupported` when they are something else.
//!
//! Sizes are not known until download, so the plan only carries each kind's limit.

use crate::{MediaItem, Network};
use serde::Serialize;

/// What kind of media a file is, as X counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Gif,
    Video,
}

impl MediaKind {
    /// The kind a MIME type names, or None for anything else.
    pub fn from_mime(mime: &str) -> Option<MediaKind> {
        let essence = mime.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" | "image/png" | "image/webp" => Some(MediaKind::Image),
            "image/gif" => Some(MediaKind::Gif),
            "video/mp4" | "video/quicktime" => Some(MediaKind::Video),
            _ => None,
        }
    }

    /// The kind a URL's path extension names (query and fragment ignored).
    pub fn from_url(url: &str) -> Option<MediaKind> {
        let path = url::Url::parse(url).ok()?.path().to_ascii_lowercase();
        let ext = path.rsplit_once('.')?.1;
        match ext {
            "jpg" | "jpeg" | "png" | "webp" => Some(MediaKind::Image),
            "gif" => Some(MediaKind::Gif),
            "mp4" | "m4v" | "mov" => Some(MediaKind::Video),
            _ => None,
        }
    }

    /// The kind of a post's media item: its declared `content_type`, else its URL.
    pub fn of_item(item: &MediaItem) -> Option<MediaKind> {
        item.content_type
            .as_deref()
            .and_then(MediaKind::from_mime)
            .or_else(|| MediaKind::from_url(&item.url))
    }

    /// X's largest file of this kind, in bytes.
    pub fn x_max_bytes(self) -> u64 {
        match self {
            MediaKind::Image => 5 * 1024 * 1024,
            MediaKind::Gif => 15 * 1024 * 1024,
            MediaKind::Video => 512 * 1024 * 1024,
        }
    }

    /// X's `media_category` for a post's media of this kind.
    pub fn x_category(self) -> &'static str {
        match self {
            MediaKind::Image => "tweet_image",
            MediaKind::Gif => "tweet_gif",
            MediaKind::Video => "tweet_video",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Gif => "gif",
            MediaKind::Video => "video",
        }
    }
}

/// Most images X attaches to one post.
pub const X_MAX_IMAGES: usize = 4;

/// One media item the network will attach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMedia {
    /// Position in the post's `media`.
    pub index: usize,
    pub url: String,
    pub kind: MediaKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    /// The largest file the network takes for this kind, when it has a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// One media item the network will not attach, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedMedia {
    pub index: usize,
    pub url: String,
    pub reason: String,
}

/// What a network attaches of a post's media, in the post's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MediaPlan {
    pub attached: Vec<PlannedMedia>,
    pub dropped: Vec<DroppedMedia>,
}

/// The media plan of a post for a network.
pub fn plan(network: Network, media: &[MediaItem]) -> MediaPlan {
    match network {
        Network::X => plan_for_x(media),
        // Facebook's own rules belong with its publisher; until they are written here
        // the preview lists every item as attached.
        Network::Facebook => MediaPlan {
            attached: media
                .iter()
                .enumerate()
                .map(|(index, item)| PlannedMedia {
                    index,
                    url: item.url.clone(),
                    kind: MediaKind::of_item(item).unwrap_or(MediaKind::Image),
                    alt: item.alt.clone(),
                    max_bytes: None,
                })
                .collect(),
            dropped: Vec::new(),
        },
    }
}

/// X: the first item decides between up to 4 images and one GIF or video alone.
pub fn plan_for_x(media: &[MediaItem]) -> MediaPlan {
    let mut plan = MediaPlan::default();
    let kinds: Vec<MediaKind> = media
        .iter()
        .map(|m| MediaKind::of_item(m).unwrap_or(MediaKind::Image))
        .collect();
    let Some(&first) = kinds.first() else {
        return plan;
    };
    for (index, (item, kind)) in media.iter().zip(kinds).enumerate() {
        let reason = match (first, kind) {
            (MediaKind::Image, MediaKind::Image) if plan.attached.len() < X_MAX_IMAGES => None,
            (MediaKind::Image, MediaKind::Image) => Some(format!(
                "X attaches at most {X_MAX_IMAGES} images to a post"
            )),
            (MediaKind::Image, other) => Some(format!(
                "X does not attach a {} to a post with images",
                other.as_str()
            )),
            _ if index == 0 => None,
            (only, _) => Some(format!(
                "X attaches a {} alone, without other media",
                only.as_str()
            )),
        };
        match reason {
            None => plan.attached.push(PlannedMedia {
                index,
                url: item.url.clone(),
                kind,
                alt: item.alt.clone(),
                max_bytes: Some(kind.x_max_bytes()),
            }),
            Some(reason) => plan.dropped.push(DroppedMedia {
                index,
                url: item.url.clone(),
                reason,
            }),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(url: &str, content_type: Option<&str>) -> MediaItem {
        MediaItem {
            url: url.into(),
            alt: Some(format!("alt of {url}")),
            content_type: content_type.map(str::to_owned),
        }
    }

    fn indexes(plan: &MediaPlan) -> (Vec<usize>, Vec<usize>) {
        (
            plan.attached.iter().map(|m| m.index).collect(),
            plan.dropped.iter().map(|m| m.index).collect(),
        )
    }

    #[test]
    fn kinds_come_from_the_content_type_then_the_extension() {
        let k = |url, ct| MediaKind::of_item(&item(url, ct));
        assert_eq!(
            k("https://a.example/x", Some("image/png")),
            Some(MediaKind::Image)
        );
        assert_eq!(
            k("https://a.example/x.gif", Some("video/mp4")),
            Some(MediaKind::Video),
            "the declared type wins over the extension"
        );
        assert_eq!(
            k("https://a.example/p/A.JPG?w=100#top", None),
            Some(MediaKind::Image)
        );
        assert_eq!(k("https://a.example/cat.gif", None), Some(MediaKind::Gif));
        assert_eq!(
            k("https://a.example/clip.mov", None),
            Some(MediaKind::Video)
        );
        assert_eq!(k("https://a.example/image?id=7", None), None);
        assert_eq!(
            MediaKind::from_mime("IMAGE/JPEG; charset=binary"),
            Some(MediaKind::Image)
        );
        assert_eq!(MediaKind::from_mime("text/html"), None);
    }

    #[test]
    fn limits_and_categories_are_xs() {
        assert_eq!(MediaKind::Image.x_max_bytes(), 5_242_880);
        assert_eq!(MediaKind::Gif.x_max_bytes(), 15_728_640);
        assert_eq!(MediaKind::Video.x_max_bytes(), 536_870_912);
        assert_eq!(MediaKind::Gif.x_category(), "tweet_gif");
    }

    #[test]
    fn up_to_four_images_are_attached_in_order() {
        let media: Vec<_> = (0..6)
            .map(|i| item(&format!("https://a.example/{i}.jpg"), None))
            .collect();
        let plan = plan_for_x(&media);
        assert_eq!(indexes(&plan), (vec![0, 1, 2, 3], vec![4, 5]));
        assert_eq!(
            plan.attached[1].alt.as_deref(),
            Some("alt of https://a.example/1.jpg")
        );
        assert_eq!(plan.attached[0].max_bytes, Some(5_242_880));
        assert!(plan.dropped[0].reason.contains("at most 4 images"));
    }

    #[test]
    fn a_gif_or_video_among_images_is_left_out() {
        let media = [
            item("https://a.example/a.png", None),
            item("https://a.example/b.mp4", None),
            item("https://a.example/c.webp", None),
            item("https://a.example/d.gif", None),
        ];
        let plan = plan_for_x(&media);
        assert_eq!(indexes(&plan), (vec![0, 2], vec![1, 3]));
        assert!(plan.dropped[0].reason.contains("video"), "{plan:?}");
    }

    #[test]
    fn a_leading_gif_or_video_goes_alone() {
        let media = [
            item("https://a.example/a.gif", None),
            item("https://a.example/b.png", None),
            item("https://a.example/c.gif", None),
        ];
        let plan = plan_for_x(&media);
        assert_eq!(indexes(&plan), (vec![0], vec![1, 2]));
        assert_eq!(plan.attached[0].kind, MediaKind::Gif);
        assert!(plan.dropped[1].reason.contains("gif alone"), "{plan:?}");

        let video = plan_for_x(&[item("https://a.example/v", Some("video/quicktime"))]);
        assert_eq!(video.attached[0].kind, MediaKind::Video);
        assert_eq!(video.attached[0].max_bytes, Some(536_870_912));
    }

    #[test]
    fn an_untyped_item_is_planned_as_an_image() {
        let plan = plan_for_x(&[item("https://a.example/image?id=7", None)]);
        assert_eq!(plan.attached[0].kind, MediaKind::Image);
        assert!(plan_for_x(&[]).attached.is_empty());
    }

    #[test]
    fn facebook_lists_every_item() {
        let media: Vec<_> = (0..6)
            .map(|i| item(&format!("https://a.example/{i}.jpg"), None))
            .collect();
        let plan = plan(Network::Facebook, &media);
        assert_eq!(plan.attached.len(), 6);
        assert!(plan.dropped.is_empty());
    }
}
