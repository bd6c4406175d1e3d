//! Fetching a post's media: what each file is, and its bytes for upload to a network.
//!
//! What a file is comes from its bytes, in one place: [`sniff`], which every
//! publisher and the preview reach through [`MediaFetcher::sniff_each`] (the first
//! bytes only) before [`crosspost_core::media::plan`] decides what each network does
//! with it. The post's `content_type`, the URL's extension and the host's Content-Type
//! are hints: the bytes win.
//!
//! A file is refused for good (`Permanent`) when it is larger than the network takes
//! for its kind (`media_too_large`), when its bytes are not a JPEG, PNG, GIF, WEBP, MP4
//! or QuickTime file, or changed kind between the plan and the download
//! (`media_unsupported`). A URL the [`crate::fetch`] rules refuse (`media_refused`,
//! naming the hop: an internal address, http, too many redirects), and a host that
//! cannot be reached, answers with an error or too slowly, are `MediaUnavailable`: the
//! worker tries again later (DNS answers change), then fails the delivery as
//! `media_unavailable`.
//!
//! Images are read whole (5 MB at most). GIFs and videos are handed on in chunks as
//! they arrive, so a 512 MB video is never held in memory; when the host does not say
//! the length up front (X needs it before the first chunk), the file is spooled to a
//! temporary file first.

use crate::fetch::{CheckedFetcher, FetchError};
use crate::{PublishError, WithoutUrl};
use crosspost_core::media::{MediaKind, MediaPlan, Sniffed};
use crosspost_core::{MediaItem, Network};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes read to tell a file's type: enough for an MP4's or HEIF's whole `ftyp` box.
const SNIFF_BYTES: usize = 256;

/// Fetches media URLs through the [`CheckedFetcher`].
#[derive(Clone, Debug)]
pub struct MediaFetcher {
    checked: CheckedFetcher,
    timeout: Duration,
}

/// A response whose first bytes are read.
struct Opened {
    resp: reqwest::Response,
    /// The host's Content-Type, empty when it sent none.
    header_type: String,
    length: Option<u64>,
    head: Vec<u8>,
}

/// A fetched file: what it is, how long, and its bytes.
#[derive(Debug)]
pub struct FetchedMedia {
    pub kind: MediaKind,
    /// The MIME type its bytes show.
    pub mime: &'static str,
    pub total_bytes: u64,
    pub body: MediaBody,
}

/// A fetched file's bytes: whole for an image (at most 5 MB), chunk by chunk for a GIF
/// or video.
#[derive(Debug)]
pub enum MediaBody {
    /// An image, read whole.
    Whole(Vec<u8>),
    /// A GIF or video, to be read chunk by chunk.
    Chunks(MediaChunks),
}

/// The bytes of a GIF or video as they arrive (or from its spool file).
#[derive(Debug)]
pub struct MediaChunks {
    source: ChunkSource,
    /// Read but not yet handed out.
    pending: Vec<u8>,
    limit: u64,
    expected: u64,
    counted: u64,
    done: bool,
}

#[derive(Debug)]
enum ChunkSource {
    Network(reqwest::Response),
    /// The spool file is removed when the chunks are dropped.
    File {
        file: tokio::fs::File,
        _spool: SpoolFile,
    },
}

/// A temporary file removed when dropped.
#[derive(Debug)]
struct SpoolFile(PathBuf);

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn unavailable(detail: impl Into<String>) -> PublishError {
    PublishError::MediaUnavailable {
        detail: detail.into(),
    }
}

fn refused(reason: &str, detail: impl std::fmt::Display) -> PublishError {
    PublishError::Permanent {
        reason: format!("{reason}: {detail}"),
    }
}

fn too_large(kind: MediaKind, limit: u64, network: Network) -> PublishError {
    let on = match network {
        Network::X => "X",
        Network::Facebook => "a Facebook Page",
        Network::Bluesky => "Bluesky",
    };
    refused(
        "media_too_large",
        format!(
            "a {} may be at most {} MB on {on}",
            kind.as_str(),
            limit / (1024 * 1024)
        ),
    )
}

/// What the first bytes of a file (256 are plenty) show it to be, by their magic
/// numbers (the `infer` crate): a JPEG, PNG or WEBP image, a GIF, an MP4 (M4V
/// included) or QuickTime video, or something else, named when `infer` knows it
/// (`image/heif`, `text/html`, `application/pdf`).
pub fn sniff(head: &[u8]) -> Sniffed {
    let Some(found) = infer::get(head) else {
        return Sniffed::Other { mime: None };
    };
    let (kind, mime) = match found.mime_type() {
        mime @ ("image/jpeg" | "image/png" | "image/webp") => (MediaKind::Image, mime),
        mime @ "image/gif" => (MediaKind::Gif, mime),
        mime @ ("video/mp4" | "video/quicktime") => (MediaKind::Video, mime),
        // An M4V is an MP4 with Apple's brand; the networks take it as one.
        "video/x-m4v" => (MediaKind::Video, "video/mp4"),
        other => return Sniffed::Other { mime: Some(other) },
    };
    Sniffed::Media { kind, mime }
}

fn with_article(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "an image",
        MediaKind::Gif => "a GIF",
        MediaKind::Video => "a video",
    }
}

/// Whether a Content-Type header says nothing about the media type.
fn is_generic(mime: &str) -> bool {
    let essence = mime.split(';').next().unwrap_or("").trim();
    essence.is_empty()
        || essence.eq_ignore_ascii_case("application/octet-stream")
        || essence.eq_ignore_ascii_case("binary/octet-stream")
}

impl MediaFetcher {
    /// `timeout` bounds one whole download.
    pub fn new(checked: CheckedFetcher, timeout: Duration) -> Self {
        MediaFetcher { checked, timeout }
    }

    /// The fetcher every hop of a download goes through, for other user-given URLs
    /// fetched under the same rules (a linked page).
    pub fn checked(&self) -> &CheckedFetcher {
        &self.checked
    }

    /// What the file at `url` is, from its first bytes (the rest is not downloaded).
    /// Errors as [`MediaFetcher::fetch`]'s: an unreachable host is `MediaUnavailable`,
    /// an internal address `Permanent` (`media_refused`).
    pub async fn sniff_url(&self, url: &str) -> Result<Sniffed, PublishError> {
        let opened = self.open(url).await?;
        Ok(sniff(&opened.head))
    }

    /// [`MediaFetcher::sniff_url`] for each of `media`, all at once, in their order.
    pub async fn sniff_each(&self, media: &[MediaItem]) -> Vec<Result<Sniffed, PublishError>> {
        futures::future::join_all(media.iter().map(|item| self.sniff_url(&item.url))).await
    }

    /// The media plan a publisher acts on: every item sniffed, then
    /// [`crosspost_core::media::plan`]. The first file that cannot be read fails it (as
    /// [`MediaFetcher::sniff_url`] fails), and so does a file the network refuses
    /// (`Permanent`, with [`MediaPlan::refusal`]'s reason). Dropped items are logged.
    pub async fn plan(
        &self,
        network: Network,
        media: &[MediaItem],
    ) -> Result<MediaPlan, PublishError> {
        let sniffed = self
            .sniff_each(media)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let plan = crosspost_core::media::plan(network, media, &sniffed);
        if let Some(reason) = plan.refusal() {
            return Err(PublishError::Permanent { reason });
        }
        for planned in plan.attached.iter().filter(|p| p.note.is_some()) {
            tracing::info!(index = planned.index, note = planned.note.as_deref().unwrap_or(""), %network, "media kind from its bytes");
        }
        for dropped in &plan.dropped {
            tracing::warn!(index = dropped.index, reason = %dropped.reason, %network, "media left out");
        }
        Ok(plan)
    }

    /// Sends the GET and reads the first bytes: the one way a media URL is opened.
    async fn open(&self, url: &str) -> Result<Opened, PublishError> {
        let mut resp = self
            .checked
            .get(url, self.timeout)
            .await
            .map_err(|e| match e {
                FetchError::Refused { .. } => unavailable(format!("media_refused: {e}")),
                FetchError::Unreachable { .. } => unavailable(format!("fetching media: {e}")),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(unavailable(format!(
                "the media host answered {}",
                status.as_u16()
            )));
        }
        let header_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let length = resp.content_length();

        let mut head = Vec::new();
        while head.len() < SNIFF_BYTES {
            match next_network_chunk(&mut resp).await? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(Opened {
            resp,
            header_type,
            length,
            head,
        })
    }

    /// Downloads `url`, expected to be of kind `planned` (the media plan's view of it,
    /// from its bytes when the plan was made: a file that has changed kind since is
    /// refused), within X's size limit for that kind.
    pub async fn fetch(&self, url: &str, planned: MediaKind) -> Result<FetchedMedia, PublishError> {
        self.fetch_as(url, Some(planned), None).await
    }

    /// [`MediaFetcher::fetch`] within `max_bytes`, the limit of `network` for the kind:
    /// a larger file is refused (`media_too_large`, naming the network and the limit
    /// in MB).
    pub async fn fetch_up_to(
        &self,
        url: &str,
        planned: MediaKind,
        max_bytes: u64,
        network: Network,
    ) -> Result<FetchedMedia, PublishError> {
        self.fetch_as(url, Some(planned), Some((max_bytes, network)))
            .await
    }

    /// Downloads `url` whatever kind of media its bytes show (for a caller that placed
    /// it by an earlier plan and checks the kind itself), within X's limit for it.
    pub async fn fetch_any(&self, url: &str) -> Result<FetchedMedia, PublishError> {
        self.fetch_as(url, None, None).await
    }

    /// Downloads `url`: of kind `planned` when given, within `bound` (bytes, and the
    /// network the limit is named after), X's limit for the kind when none is given.
    async fn fetch_as(
        &self,
        url: &str,
        planned: Option<MediaKind>,
        bound: Option<(u64, Network)>,
    ) -> Result<FetchedMedia, PublishError> {
        let Opened {
            resp,
            header_type,
            length,
            head,
        } = self.open(url).await?;
        let Sniffed::Media { kind, mime } = sniff(&head) else {
            return Err(refused(
                "media_unsupported",
                format!(
                    "the file is not a JPEG, PNG, GIF, WEBP, MP4 or QuickTime file (the host calls it {})",
                    if header_type.is_empty() { "nothing" } else { &header_type }
                ),
            ));
        };
        if !is_generic(&header_type) && MediaKind::from_mime(&header_type) != Some(kind) {
            // The host's word is a hint like the post's: the bytes decide.
            tracing::info!(host_says = %header_type, bytes_are = mime, "the media host misnames a file");
        }
        if let Some(planned) = planned.filter(|p| *p != kind) {
            return Err(refused(
                "media_unsupported",
                format!(
                    "the file was {} when the post's media were planned, but is now {} ({mime})",
                    with_article(planned),
                    with_article(kind)
                ),
            ));
        }
        let (limit, network) = bound.unwrap_or((kind.x_max_bytes(), Network::X));
        if length.is_some_and(|n| n > limit) {
            return Err(too_large(kind, limit, network));
        }
        let mut chunks = MediaChunks {
            source: ChunkSource::Network(resp),
            limit,
            counted: head.len() as u64,
            pending: head,
            expected: length.unwrap_or(0),
            done: false,
        };
        if length.is_some_and(|n| chunks.counted > n) {
            return Err(unavailable("the media host sent more than it announced"));
        }
        if chunks.counted > limit {
            return Err(too_large(kind, limit, network));
        }
        let (body, total_bytes) = match (kind, length) {
            (MediaKind::Image, _) => {
                let mut whole = std::mem::take(&mut chunks.pending);
                while let Some(chunk) = chunks.read_source().await? {
                    whole.extend_from_slice(&chunk);
                }
                chunks.check_end()?;
                let n = whole.len() as u64;
                (MediaBody::Whole(whole), n)
            }
            (_, Some(n)) => (MediaBody::Chunks(chunks), n),
            (_, None) => {
                let chunks = chunks.spool().await?;
                let n = chunks.expected;
                (MediaBody::Chunks(chunks), n)
            }
        };
        Ok(FetchedMedia {
            kind,
            mime,
            total_bytes,
            body,
        })
    }
}

/// The next piece of a response body; a broken body is unavailable media.
async fn next_network_chunk(resp: &mut reqwest::Response) -> Result<Option<Vec<u8>>, PublishError> {
    match resp.chunk().await {
        Ok(chunk) => Ok(chunk.map(|c| c.to_vec())),
        Err(e) => Err(unavailable(format!(
            "reading media: {}",
            e.without_url_ref()
        ))),
    }
}

/// A name for a spool file no other download of this process or another uses.
fn spool_path() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "crosspost-media-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

impl MediaChunks {
    /// The next piece from the source (not from `pending`), counted against the limit.
    async fn read_source(&mut self) -> Result<Option<Vec<u8>>, PublishError> {
        if self.done {
            return Ok(None);
        }
        let chunk = match &mut self.source {
            ChunkSource::Network(resp) => next_network_chunk(resp).await?,
            ChunkSource::File { file, .. } => {
                let mut buf = vec![0u8; 256 * 1024];
                let n = file
                    .read(&mut buf)
                    .await
                    .map_err(|e| unavailable(format!("reading the spooled media: {e}")))?;
                buf.truncate(n);
                (n > 0).then_some(buf)
            }
        };
        let Some(chunk) = chunk else {
            self.done = true;
            return Ok(None);
        };
        if let ChunkSource::Network(_) = self.source {
            self.counted += chunk.len() as u64;
            if self.counted > self.limit {
                return Err(refused(
                    "media_too_large",
                    format!("the file is larger than {} MB", self.limit / (1024 * 1024)),
                ));
            }
            if self.expected > 0 && self.counted > self.expected {
                return Err(unavailable("the media host sent more than it announced"));
            }
        }
        Ok(Some(chunk))
    }

    /// After the source ended: it must have sent what it announced.
    fn check_end(&self) -> Result<(), PublishError> {
        if let ChunkSource::Network(_) = self.source {
            if self.expected > 0 && self.counted != self.expected {
                return Err(unavailable(format!(
                    "the media host sent {} of {} bytes",
                    self.counted, self.expected
                )));
            }
        }
        Ok(())
    }

    /// Reads the whole body into a temporary file, so its length is known.
    async fn spool(mut self) -> Result<MediaChunks, PublishError> {
        let path = spool_path();
        let guard = SpoolFile(path.clone());
        let io = |e: std::io::Error| unavailable(format!("spooling media: {e}"));
        let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
        file.write_all(&self.pending).await.map_err(io)?;
        while let Some(chunk) = self.read_source().await? {
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        drop(file);
        let file = tokio::fs::File::open(&path).await.map_err(io)?;
        Ok(MediaChunks {
            source: ChunkSource::File {
                file,
                _spool: guard,
            },
            pending: Vec::new(),
            limit: self.limit,
            expected: self.counted,
            counted: self.counted,
            done: false,
        })
    }

    /// The next chunk of at most `max` bytes, or None at the end.
    pub async fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, PublishError> {
        while self.pending.len() < max {
            match self.read_source().await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => {
                    self.check_end()?;
                    break;
                }
            }
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        if self.pending.len() <= max {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        let rest = self.pending.split_off(max);
        Ok(Some(std::mem::replace(&mut self.pending, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(kind: MediaKind, mime: &'static str) -> Sniffed {
        Sniffed::Media { kind, mime }
    }

    /// An ISO base media file's `ftyp` box: major brand, then compatible brands.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let len = 16 + 4 * compatible.len();
        let mut b = (len as u32).to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compatible {
            b.extend_from_slice(*brand);
        }
        b.extend_from_slice(b"\0\0\0\x08free");
        b
    }

    /// A host on loopback that answers every request with a PNG that never ends
    /// (64 MB at most), chunked and without a length, until the reader hangs up.
    async fn endless_png_host() -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}/endless.png", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\n\
                                transfer-encoding: chunked\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut first = crosspost_fakes::tiny_png();
                    first.resize(64 * 1024, 0);
                    let rest = vec![0u8; 64 * 1024];
                    let mut chunk = first;
                    for _ in 0..1024 {
                        let framed = [
                            format!("{:x}\r\n", chunk.len()).into_bytes(),
                            chunk.clone(),
                            b"\r\n".to_vec(),
                        ]
                        .concat();
                        if socket.write_all(&framed).await.is_err() {
                            return;
                        }
                        chunk = rest.clone();
                    }
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn an_endless_image_without_a_length_stops_at_the_limit() {
        let url = endless_png_host().await;
        let rules = crate::fetch::FetchRules {
            allow_local: true,
            stand_ins: Vec::new(),
        };
        let checked = CheckedFetcher::new(rules, Duration::from_secs(5)).unwrap();
        let fetcher = MediaFetcher::new(checked, Duration::from_secs(60));
        let err = fetcher.fetch(&url, MediaKind::Image).await.unwrap_err();
        match err {
            PublishError::Permanent { reason } => {
                assert_eq!(reason, "media_too_large: the file is larger than 5 MB")
            }
            other => panic!("media_too_large expected, got {other:?}"),
        }
    }

    #[test]
    fn images_gifs_and_videos_are_told_from_their_bytes() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0\x01"),
            media(MediaKind::Image, "image/jpeg")
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01"),
            media(MediaKind::Image, "image/png")
        );
        assert_eq!(
            sniff(b"GIF89a\x01\0\x01\0\x80\0\0"),
            media(MediaKind::Gif, "image/gif")
        );
        assert_eq!(
            sniff(b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0"),
            media(MediaKind::Image, "image/webp")
        );
        assert_eq!(
            sniff(&ftyp(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"])),
            media(MediaKind::Video, "video/mp4")
        );
        assert_eq!(
            sniff(&ftyp(b"mp42", &[b"mp42", b"isom"])),
            media(MediaKind::Video, "video/mp4")
        );
        assert_eq!(
            sniff(&ftyp(b"M4V ", &[b"M4V ", b"mp42", b"isom"])),
            media(MediaKind::Video, "video/mp4"),
            "an M4V is sent as the MP4 it is"
        );
        assert_eq!(
            sniff(&ftyp(b"qt  ", &[b"qt  "])),
            media(MediaKind::Video, "video/quicktime")
        );
        // An old QuickTime file without `ftyp`: a `wide` atom, then the media data.
        assert_eq!(
            sniff(b"\0\0\0\x08wide\x01\x2F\x5A\x10mdat\0\0"),
            media(MediaKind::Video, "video/quicktime")
        );
    }

    #[test]
    fn other_files_are_named_when_known_and_never_taken_for_media() {
        // HEIC and AVIF photos are ISO files too: no video, and no type the networks take.
        assert_eq!(
            sniff(&ftyp(b"heic", &[b"mif1", b"heic"])),
            Sniffed::Other {
                mime: Some("image/heif")
            }
        );
        assert_eq!(
            sniff(&ftyp(b"avif", &[b"avif", b"mif1", b"miaf"])),
            Sniffed::Other {
                mime: Some("image/avif")
            }
        );
        assert_eq!(
            sniff(b"<!DOCTYPE html><html><body>Login required</body></html>"),
            Sniffed::Other {
                mime: Some("text/html")
            }
        );
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3"),
            Sniffed::Other {
                mime: Some("application/pdf")
            }
        );
        assert_eq!(sniff(b"just some text"), Sniffed::Other { mime: None });
        assert_eq!(sniff(b""), Sniffed::Other { mime: None });
    }

    #[test]
    fn only_octet_stream_or_nothing_is_generic() {
        assert!(is_generic(""));
        assert!(is_generic("application/octet-stream; charset=binary"));
        assert!(!is_generic("text/html"));
        assert!(!is_generic("image/png"));
    }
}
