//! Which of a post's media each network attaches: the media plan.
//!
//! A file's kind comes from its bytes, never from what the post or the URL says: the
//! publishers and `POST /v1/preview` read each file's first bytes through one function
//! (`crosspost_networks::media::MediaFetcher::sniff_each`) and hand what they showed
//! ([`Sniffed`]) to [`plan`], so the preview and the worker act on the same plan. The
//! post's `content_type` and the URL's extension are hints only: when the bytes say
//! otherwise, the bytes win and the plan says so in the item's `note`; a file whose
//! bytes could not be read (preview only) is planned from its hints, saying so.
//!
//! Every network refuses a file that is no image or video we know (an HTML page, a
//! PDF, a HEIC photo): the delivery fails (`refused`). Then per network:
//! - X takes at most 4 images, or 1 GIF, or 1 video per post, never a mix. The first
//!   item decides: when it is an image, every image is attached, 4 per part of the
//!   thread in the post's order (`part`: 4 + 4 + 1 for nine; a part may carry images
//!   and no text), and every GIF or video is left out (`dropped`); when it is a GIF or
//!   a video, it is attached alone to the first part.
//! - Facebook Pages take photos (JPEG, PNG, GIF, WEBP, every one in one post) or one
//!   video (`POST /{page-id}/videos`), never both in one post. The first item decides,
//!   as on X: when it is an image or GIF, every image and GIF is attached and every
//!   video left out; when it is a video, it is attached alone.
//! - Bluesky takes at most 4 images per post (`app.bsky.embed.images`): every image is
//!   attached, 4 per part of the thread like X's. A GIF or video is refused (Crosspost
//!   publishes only images there for now), rather than the post going without it.
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

    /// What a post's media item's hints say it is: its declared `content_type`, else
    /// its URL's extension. Only a hint: [`plan`] goes by the file's bytes.
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

/// Most images in one Bluesky post (`app.bsky.embed.images`: `images` maxLength 4).
pub const BLUESKY_MAX_IMAGES: usize = 4;

/// Largest image Crosspost downloads for Bluesky, in bytes (16 MiB): a larger photo is
/// refused; a smaller one over Bluesky's own limit is scaled down before upload.
pub const BLUESKY_IMAGE_DOWNLOAD_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Largest video a Facebook Page takes, in bytes: 2 GB (Graph's Video API error
/// reference, subcode 1363023 "The maximum size for a video is 2 GB").
pub const FACEBOOK_VIDEO_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What a media file's first bytes show it to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// A type the networks take: its kind and the MIME type of its bytes.
    Media { kind: MediaKind, mime: &'static str },
    /// Bytes of a type no network takes from us: its MIME type when known
    /// (`text/html`, `image/heif`, `application/pdf`), None when the bytes are of no
    /// known type at all.
    Other { mime: Option<&'static str> },
    /// The file could not be read (host unreachable, an error answer, an internal
    /// address). Only a preview plans with this, from the item's hints; the worker
    /// retries or fails instead.
    Unread { reason: String },
}

/// One media item the network will attach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMedia {
    /// Position in the post's `media`.
    pub index: usize,
    pub url: String,
    pub kind: MediaKind,
    /// The MIME type the file's bytes show; absent when they could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    /// The largest file the network takes for this kind, when it has a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// A hint the bytes contradict, or why the kind comes from the hints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Which part of the thread carries it (0 for the first).
    pub part: usize,
}

/// One media item the network will not attach, and why; the post goes out without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedMedia {
    pub index: usize,
    pub url: String,
    pub reason: String,
}

/// One media item the network refuses: the delivery fails (`last_error` kind
/// `permanent`, message `rejected: media_unsupported: ` and this reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedMedia {
    pub index: usize,
    pub url: String,
    /// The MIME type the file's bytes show, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<&'static str>,
    pub reason: String,
}

/// What a network attaches of a post's media, in the post's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MediaPlan {
    pub attached: Vec<PlannedMedia>,
    pub dropped: Vec<DroppedMedia>,
    /// When not empty, the delivery fails with the first one's reason.
    pub refused: Vec<RefusedMedia>,
}

impl MediaPlan {
    /// The post's media each part carries (positions in the post's `media`), part by
    /// part: as many entries as the last part carrying media, in the post's order.
    pub fn per_part(&self) -> Vec<Vec<usize>> {
        let mut parts: Vec<Vec<usize>> = Vec::new();
        for m in &self.attached {
            if parts.len() <= m.part {
                parts.resize(m.part + 1, Vec::new());
            }
            parts[m.part].push(m.index);
        }
        parts
    }

    /// Attaches `planned` to the part after the ones already full: `per_part` items
    /// per part, in the order they are attached (4 + 4 + 1 for nine, with 4).
    fn attach_spread(&mut self, mut planned: PlannedMedia, per_part: usize) {
        planned.part = self.attached.len() / per_part;
        self.attached.push(planned);
    }

    /// Why the delivery fails, when the network refuses an item: the first refusal's
    /// reason as a `PublishError::Permanent` carries it (`media_unsupported: …`).
    pub fn refusal(&self) -> Option<String> {
        self.refused
            .first()
            .map(|r| format!("media_unsupported: {}", r.reason))
    }
}

/// One item with what its bytes (or, unread, its hints) make of it.
struct Judged<'a> {
    index: usize,
    item: &'a MediaItem,
    /// None: bytes of a type no network takes.
    kind: Option<MediaKind>,
    mime: Option<&'static str>,
    note: Option<String>,
}

fn with_article(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "an image",
        MediaKind::Gif => "a GIF",
        MediaKind::Video => "a video",
    }
}

/// Which hint names a kind, and the kind it names.
fn hint(item: &MediaItem) -> Option<(String, MediaKind)> {
    if let Some(ct) = item.content_type.as_deref() {
        if let Some(kind) = MediaKind::from_mime(ct) {
            return Some((format!("content_type {ct}"), kind));
        }
    }
    MediaKind::from_url(&item.url).map(|kind| ("URL's extension".to_owned(), kind))
}

fn judge<'a>(index: usize, item: &'a MediaItem, sniffed: Option<&Sniffed>) -> Judged<'a> {
    let mut judged = Judged {
        index,
        item,
        kind: None,
        mime: None,
        note: None,
    };
    match sniffed {
        Some(Sniffed::Media { kind, mime }) => {
            judged.kind = Some(*kind);
            judged.mime = Some(mime);
            if let Some((source, said)) = hint(item).filter(|(_, said)| said != kind) {
                judged.note = Some(format!(
                    "its {source} says {}, but its bytes are {mime}: sent as {}",
                    with_article(said),
                    with_article(*kind)
                ));
            }
        }
        Some(Sniffed::Other { mime }) => judged.mime = *mime,
        Some(Sniffed::Unread { reason }) => {
            let (kind, source) = match hint(item) {
                Some((source, kind)) => (kind, format!("its {source}")),
                None => (MediaKind::Image, "default".to_owned()),
            };
            judged.kind = Some(kind);
            judged.note = Some(format!(
                "not read ({reason}); taken for {} by {source}",
                with_article(kind)
            ));
        }
        None => {
            let kind = hint(item).map_or(MediaKind::Image, |(_, k)| k);
            judged.kind = Some(kind);
            judged.note = Some(format!("not read; taken for {}", with_article(kind)));
        }
    }
    judged
}

impl Judged<'_> {
    fn name(&self) -> String {
        format!("media[{}] ({})", self.index, self.item.url)
    }

    fn attach(&self, kind: MediaKind, max_bytes: Option<u64>) -> PlannedMedia {
        PlannedMedia {
            index: self.index,
            url: self.item.url.clone(),
            kind,
            mime: self.mime,
            alt: self.item.alt.clone(),
            max_bytes,
            note: self.note.clone(),
            part: 0,
        }
    }

    fn drop_because(&self, reason: String) -> DroppedMedia {
        DroppedMedia {
            index: self.index,
            url: self.item.url.clone(),
            reason,
        }
    }

    fn refuse_because(&self, reason: String) -> RefusedMedia {
        RefusedMedia {
            index: self.index,
            url: self.item.url.clone(),
            mime: self.mime,
            reason,
        }
    }

    /// The refusal of a file that is no image or video.
    fn not_media(&self) -> RefusedMedia {
        let what = match self.mime {
            Some(mime) => format!("its bytes are {mime}"),
            None => "its bytes are of no known type".to_owned(),
        };
        self.refuse_because(format!(
            "{} is not a JPEG, PNG, GIF, WEBP, MP4 or QuickTime file: {what}",
            self.name()
        ))
    }
}

/// The media plan of a post for a network: `sniffed[i]` is what the bytes of
/// `media[i]` showed (an item without one is planned from its hints, saying so).
pub fn plan(network: Network, media: &[MediaItem], sniffed: &[Sniffed]) -> MediaPlan {
    let judged: Vec<Judged<'_>> = media
        .iter()
        .enumerate()
        .map(|(i, item)| judge(i, item, sniffed.get(i)))
        .collect();
    match network {
        Network::X => plan_for_x(&judged),
        Network::Facebook => plan_for_facebook(&judged),
        Network::Bluesky => plan_for_bluesky(&judged),
    }
}

/// X: the first item decides between images, 4 per part, and one GIF or video alone.
fn plan_for_x(judged: &[Judged<'_>]) -> MediaPlan {
    let mut plan = MediaPlan::default();
    let first = judged.iter().find_map(|j| j.kind);
    let mut decided = false;
    for j in judged {
        let Some(kind) = j.kind else {
            plan.refused.push(j.not_media());
            continue;
        };
        let reason = match (first, kind) {
            (Some(MediaKind::Image), MediaKind::Image) => None,
            (Some(MediaKind::Image), other) => Some(format!(
                "X does not attach a {} to a post with images",
                other.as_str()
            )),
            _ if !decided => None,
            (Some(only), _) => Some(format!(
                "X attaches a {} alone, without other media",
                only.as_str()
            )),
            (None, _) => None,
        };
        decided = true;
        match reason {
            None => plan.attach_spread(j.attach(kind, Some(kind.x_max_bytes())), X_MAX_IMAGES),
            Some(reason) => plan.dropped.push(j.drop_because(reason)),
        }
    }
    plan
}

/// Facebook Pages: every image and GIF as photos of one post, or one video alone; the
/// first item decides.
fn plan_for_facebook(judged: &[Judged<'_>]) -> MediaPlan {
    let mut plan = MediaPlan::default();
    let first = judged.iter().find_map(|j| j.kind);
    for j in judged {
        let Some(kind) = j.kind else {
            plan.refused.push(j.not_media());
            continue;
        };
        let reason = match (first, kind) {
            (Some(MediaKind::Video), _) if plan.attached.is_empty() => None,
            (Some(MediaKind::Video), _) => {
                Some("a Facebook Page video is posted alone, without other media".to_owned())
            }
            (_, MediaKind::Video) => {
                Some("Facebook does not attach a video to a Page post with photos".to_owned())
            }
            _ => None,
        };
        match reason {
            None if kind == MediaKind::Video => plan
                .attached
                .push(j.attach(kind, Some(FACEBOOK_VIDEO_MAX_BYTES))),
            None => plan.attached.push(j.attach(kind, None)),
            Some(reason) => plan.dropped.push(j.drop_because(reason)),
        }
    }
    plan
}

/// Bluesky: every image, 4 per part in the post's order; a GIF or video is refused.
fn plan_for_bluesky(judged: &[Judged<'_>]) -> MediaPlan {
    let mut plan = MediaPlan::default();
    for j in judged {
        match j.kind {
            None => plan.refused.push(j.not_media()),
            Some(MediaKind::Image) => plan.attach_spread(
                j.attach(MediaKind::Image, Some(BLUESKY_IMAGE_DOWNLOAD_MAX_BYTES)),
                BLUESKY_MAX_IMAGES,
            ),
            Some(kind) => plan.refused.push(j.refuse_because(format!(
                "{} is {}, and Crosspost publishes only images to Bluesky for now",
                j.name(),
                with_article(kind)
            ))),
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

    const PNG: Sniffed = Sniffed::Media {
        kind: MediaKind::Image,
        mime: "image/png",
    };
    const GIF: Sniffed = Sniffed::Media {
        kind: MediaKind::Gif,
        mime: "image/gif",
    };
    const MP4: Sniffed = Sniffed::Media {
        kind: MediaKind::Video,
        mime: "video/mp4",
    };

    fn indexes(plan: &MediaPlan) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
        (
            plan.attached.iter().map(|m| m.index).collect(),
            plan.dropped.iter().map(|m| m.index).collect(),
            plan.refused.iter().map(|m| m.index).collect(),
        )
    }

    #[test]
    fn hints_come_from_the_content_type_then_the_extension() {
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
    fn images_go_four_per_part_in_order() {
        let media: Vec<_> = (0..9)
            .map(|i| item(&format!("https://a.example/{i}.jpg"), None))
            .collect();
        let plan = plan(Network::X, &media, &[PNG; 9]);
        assert_eq!(indexes(&plan), ((0..9).collect(), vec![], vec![]));
        assert_eq!(
            plan.per_part(),
            [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8]],
            "4 + 4 + 1"
        );
        assert_eq!(
            plan.attached[5].alt.as_deref(),
            Some("alt of https://a.example/5.jpg")
        );
        assert_eq!(plan.attached[0].max_bytes, Some(5_242_880));
        assert_eq!(plan.attached[0].mime, Some("image/png"));
        assert_eq!(plan.refusal(), None);
        let fb = super::plan(Network::Facebook, &media, &[PNG; 9]);
        assert_eq!(fb.per_part(), [(0..9).collect::<Vec<_>>()], "one post");
        assert!(super::plan(Network::X, &[], &[]).per_part().is_empty());
    }

    #[test]
    fn a_gif_or_video_among_images_is_left_out() {
        let media = [
            item("https://a.example/a.png", None),
            item("https://a.example/b.mp4", None),
            item("https://a.example/c.webp", None),
            item("https://a.example/d.gif", None),
        ];
        let plan = plan(Network::X, &media, &[PNG, MP4, PNG, GIF]);
        assert_eq!(indexes(&plan), (vec![0, 2], vec![1, 3], vec![]));
        assert!(plan.dropped[0].reason.contains("video"), "{plan:?}");
    }

    #[test]
    fn a_leading_gif_or_video_goes_alone() {
        let media = [
            item("https://a.example/a.gif", None),
            item("https://a.example/b.png", None),
            item("https://a.example/c.gif", None),
        ];
        let plan = plan(Network::X, &media, &[GIF, PNG, GIF]);
        assert_eq!(indexes(&plan), (vec![0], vec![1, 2], vec![]));
        assert_eq!(plan.attached[0].kind, MediaKind::Gif);
        assert!(plan.dropped[1].reason.contains("gif alone"), "{plan:?}");

        let video = super::plan(
            Network::X,
            &[item("https://a.example/v", Some("video/quicktime"))],
            &[MP4],
        );
        assert_eq!(video.attached[0].kind, MediaKind::Video);
        assert_eq!(video.attached[0].max_bytes, Some(536_870_912));
    }

    #[test]
    fn the_bytes_decide_the_kind_whatever_the_hints_say() {
        // An untyped .mp4 that is a video, and a PNG the post calls video/mp4.
        let media = [
            item("https://a.example/clip.mp4", None),
            item("https://a.example/photo", Some("video/mp4")),
        ];
        let x = plan(Network::X, &media[1..], &[PNG]);
        assert_eq!(x.attached[0].kind, MediaKind::Image);
        assert_eq!(x.attached[0].max_bytes, Some(5_242_880));
        let note = x.attached[0].note.as_deref().unwrap();
        assert!(
            note.contains("content_type video/mp4 says a video")
                && note.contains("its bytes are image/png")
                && note.contains("sent as an image"),
            "{note}"
        );

        // The first item decides by its bytes: a video, so X attaches it alone.
        let x = plan(Network::X, &media, &[MP4, PNG]);
        assert_eq!(indexes(&x), (vec![0], vec![1], vec![]));
        assert_eq!(x.attached[0].note, None, "the extension agreed");
        let fb = plan(Network::Facebook, &media, &[MP4, PNG]);
        assert_eq!(indexes(&fb), (vec![0], vec![1], vec![]));
        assert_eq!(fb.attached[0].kind, MediaKind::Video);
    }

    #[test]
    fn facebook_posts_a_leading_video_alone_and_leaves_a_video_out_of_a_photo_post() {
        let media = [
            item("https://a.example/clip.mp4", None),
            item("https://a.example/a.png", None),
            item("https://a.example/b.mp4", None),
        ];
        let fb = plan(Network::Facebook, &media, &[MP4, PNG, MP4]);
        assert_eq!(indexes(&fb), (vec![0], vec![1, 2], vec![]));
        assert_eq!(fb.attached[0].kind, MediaKind::Video);
        assert_eq!(fb.attached[0].mime, Some("video/mp4"));
        assert_eq!(fb.attached[0].max_bytes, Some(2_147_483_648));
        assert_eq!(
            fb.dropped[0].reason,
            "a Facebook Page video is posted alone, without other media"
        );
        assert_eq!(fb.refusal(), None);

        let fb = plan(Network::Facebook, &media, &[PNG, PNG, MP4]);
        assert_eq!(indexes(&fb), (vec![0, 1], vec![2], vec![]));
        assert_eq!(
            fb.dropped[0].reason,
            "Facebook does not attach a video to a Page post with photos"
        );
    }

    #[test]
    fn facebook_attaches_every_image_and_gif() {
        let media: Vec<_> = (0..6)
            .map(|i| item(&format!("https://a.example/{i}.jpg"), None))
            .collect();
        let plan = plan(Network::Facebook, &media, &[PNG, PNG, GIF, PNG, PNG, PNG]);
        assert_eq!(plan.attached.len(), 6);
        assert_eq!(plan.attached[2].kind, MediaKind::Gif);
        assert!(plan.dropped.is_empty() && plan.refused.is_empty());
    }

    #[test]
    fn a_file_that_is_no_media_is_refused_on_every_network() {
        let media = [
            item("https://a.example/a.png", Some("image/png")),
            item("https://a.example/b.png", None),
        ];
        let sniffed = [
            PNG,
            Sniffed::Other {
                mime: Some("text/html"),
            },
        ];
        for network in [Network::X, Network::Facebook, Network::Bluesky] {
            let p = plan(network, &media, &sniffed);
            assert_eq!(indexes(&p), (vec![0], vec![], vec![1]), "{network:?}");
            assert_eq!(
                p.refusal().unwrap(),
                "media_unsupported: media[1] (https://a.example/b.png) is not a JPEG, PNG, \
                 GIF, WEBP, MP4 or QuickTime file: its bytes are text/html"
            );
        }
        let unknown = plan(Network::X, &media[..1], &[Sniffed::Other { mime: None }]);
        assert!(unknown.refused[0].reason.ends_with("of no known type"));
    }

    #[test]
    fn bluesky_takes_images_four_per_part_and_refuses_gifs_and_videos() {
        let media: Vec<MediaItem> = (0..6)
            .map(|i| item(&format!("https://a.example/{i}.png"), None))
            .collect();
        let p = plan(Network::Bluesky, &media, &vec![PNG; 6]);
        assert_eq!(p.per_part(), [vec![0, 1, 2, 3], vec![4, 5]], "4 + 2");
        assert_eq!(
            p.attached[0].alt.as_deref(),
            Some("alt of https://a.example/0.png")
        );
        assert_eq!(
            p.attached[0].max_bytes,
            Some(BLUESKY_IMAGE_DOWNLOAD_MAX_BYTES)
        );
        let p = plan(Network::Bluesky, &media[..2], &[PNG, MP4]);
        assert_eq!(indexes(&p), (vec![0], vec![], vec![1]));
        assert_eq!(
            p.refusal().unwrap(),
            "media_unsupported: media[1] (https://a.example/1.png) is a video, and Crosspost \
             publishes only images to Bluesky for now"
        );
        let p = plan(Network::Bluesky, &media[..1], &[GIF]);
        assert!(p.refusal().unwrap().contains("is a GIF"));
    }

    #[test]
    fn an_unread_file_is_planned_from_its_hints_saying_so() {
        let media = [
            item("https://a.example/image?id=7", None),
            item("https://a.example/v", Some("video/mp4")),
        ];
        let unread = || Sniffed::Unread {
            reason: "the media host answered 503".into(),
        };
        let fb = plan(Network::Facebook, &media, &[unread(), unread()]);
        assert_eq!(indexes(&fb), (vec![0], vec![1], vec![]));
        assert_eq!(fb.attached[0].mime, None);
        assert_eq!(
            fb.attached[0].note.as_deref(),
            Some("not read (the media host answered 503); taken for an image by default")
        );
        assert!(fb.dropped[0]
            .reason
            .contains("video to a Page post with photos"));
        assert!(plan(Network::X, &[], &[]).attached.is_empty());
    }
}
