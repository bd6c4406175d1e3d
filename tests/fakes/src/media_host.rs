//! A small static file server for media URLs in tests, and tiny valid image files
//! made in code. The fake networks that fetch a URL themselves (Graph's `/photos`)
//! reach every media host running in the same process through `fetch`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use crosspost_fakes::{MediaHost, tiny_png};
//! let host = MediaHost::start().await?;
//! host.serve("/a.png", "image/png", tiny_png());
//! let url = host.url("/a.png"); // http://127.0.0.1:PORT/a.png
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use http::{header, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::lock;

#[derive(Clone)]
enum Entry {
    File {
        content_type: String,
        bytes: Arc<Vec<u8>>,
    },
    Status(u16),
    Redirect {
        status: u16,
        location: String,
    },
}

#[derive(Default)]
struct Files {
    entries: HashMap<String, Entry>,
    /// Requests per path.
    hits: HashMap<String, usize>,
}

/// Every media host started in this process, by base URL: what a fake network can
/// fetch. A fake's handlers are not async, so they read the files here rather than
/// over HTTP (which, on a test's single-threaded runtime, would wait on itself).
static RUNNING: Mutex<Vec<(String, Weak<Mutex<Files>>)>> = Mutex::new(Vec::new());

/// What a fake network gets when it fetches a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// The file and the Content-Type it is served with (empty: none).
    File {
        content_type: String,
        bytes: Arc<Vec<u8>>,
    },
    /// An error status (no media host serves the URL: 404).
    Status(u16),
    /// No media host of this process has this base URL: the fetch finds nobody.
    Unreachable,
}

/// Fetches `url` from the media host of this process that serves it, counting a hit
/// as a GET does.
pub(crate) fn fetch(url: &str) -> Fetched {
    let files = {
        let mut running = lock(&RUNNING);
        running.retain(|(_, files)| files.strong_count() > 0);
        running
            .iter()
            .filter(|(base, _)| url.starts_with(base.as_str()))
            .find_map(|(base, files)| {
                let path = &url[base.len()..];
                (path.starts_with('/')).then(|| files.upgrade()).flatten()
            })
    };
    let Some(files) = files else {
        return Fetched::Unreachable;
    };
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let mut files = lock(&files);
    *files.hits.entry(path.to_owned()).or_default() += 1;
    match files.entries.get(path) {
        Some(Entry::File {
            content_type,
            bytes,
        }) => Fetched::File {
            content_type: content_type.clone(),
            bytes: bytes.clone(),
        },
        Some(Entry::Status(status)) => Fetched::Status(*status),
        // The fake Graph does not follow redirects: a redirect is no image.
        Some(Entry::Redirect { status, .. }) => Fetched::Status(*status),
        None => Fetched::Status(404),
    }
}

/// A running media server on `127.0.0.1:0`; stops when the last clone is dropped.
#[derive(Clone)]
pub struct MediaHost {
    files: Arc<Mutex<Files>>,
    base_url: String,
    _stop: Arc<watch::Sender<bool>>,
}

impl MediaHost {
    pub async fn start() -> std::io::Result<MediaHost> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let files = Arc::new(Mutex::new(Files::default()));
        lock(&RUNNING).push((base_url.clone(), Arc::downgrade(&files)));
        let app = Router::new().fallback(answer).with_state(files.clone());
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "media host stopped with an error");
            }
        });
        Ok(MediaHost {
            files,
            base_url,
            _stop: Arc::new(stop),
        })
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Serves `bytes` at `path` with this Content-Type (empty: none).
    pub fn serve(&self, path: &str, content_type: &str, bytes: Vec<u8>) {
        lock(&self.files).entries.insert(
            path.to_owned(),
            Entry::File {
                content_type: content_type.to_owned(),
                bytes: Arc::new(bytes),
            },
        );
    }

    /// Answers `status` (e.g. 404, 503) with no body at `path` from now on.
    pub fn fail(&self, path: &str, status: u16) {
        lock(&self.files)
            .entries
            .insert(path.to_owned(), Entry::Status(status));
    }

    /// Answers `status` (301, 302, 303, 307 or 308) with `Location: location` at `path`.
    pub fn redirect(&self, path: &str, status: u16, location: &str) {
        lock(&self.files).entries.insert(
            path.to_owned(),
            Entry::Redirect {
                status,
                location: location.to_owned(),
            },
        );
    }

    /// The server's address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> std::net::SocketAddr {
        let authority = self.base_url.trim_start_matches("http://");
        authority
            .parse()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Requests received for any path.
    pub fn total_hits(&self) -> usize {
        lock(&self.files).hits.values().sum()
    }

    /// GET requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.files).hits.get(path).copied().unwrap_or(0)
    }
}

async fn answer(State(files): State<Arc<Mutex<Files>>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let entry = {
        let mut files = lock(&files);
        *files.hits.entry(path.clone()).or_default() += 1;
        files.entries.get(&path).cloned()
    };
    let mut response = Response::new(Body::empty());
    match entry {
        Some(Entry::File {
            content_type,
            bytes,
        }) => {
            *response.body_mut() = Body::from(bytes.as_ref().clone());
            if !content_type.is_empty() {
                if let Ok(value) = content_type.parse() {
                    response.headers_mut().insert(header::CONTENT_TYPE, value);
                }
            }
        }
        Some(Entry::Status(status)) => {
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Some(Entry::Redirect { status, location }) => {
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
            if let Ok(value) = location.parse() {
                response.headers_mut().insert(header::LOCATION, value);
            }
        }
        None => *response.status_mut() = StatusCode::NOT_FOUND,
    }
    response
}

/// A 1×1 PNG (signature, IHDR, IDAT, IEND with their CRCs), `salt` in a text chunk
/// so that two images differ.
pub fn tiny_png_with(salt: &str) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    // 1×1, 8-bit greyscale.
    png_chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    png_chunk(&mut png, b"tEXt", format!("Comment\0{salt}").as_bytes());
    // zlib stream of one scanline: filter 0, one black pixel (stored block).
    let raw = [0u8, 0];
    let mut idat = vec![0x78, 0x01, 0x01, 0x02, 0x00, 0xFD, 0xFF];
    idat.extend_from_slice(&raw);
    idat.extend_from_slice(&adler32(&raw).to_be_bytes());
    png_chunk(&mut png, b"IDAT", &idat);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

pub fn tiny_png() -> Vec<u8> {
    tiny_png_with("crosspost")
}

/// A 1×1 two-frame GIF89a (so it is animated), black then white.
pub fn tiny_gif() -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    // Logical screen 1×1, global colour table of 2 entries.
    gif.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0]);
    gif.extend_from_slice(&[0, 0, 0, 0xFF, 0xFF, 0xFF]);
    // Loop forever.
    gif.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00");
    for colour in [0u8, 1] {
        // Graphic control: 10/100 s delay.
        gif.extend_from_slice(&[0x21, 0xF9, 4, 0, 10, 0, 0, 0]);
        // Image descriptor 1×1 at 0,0; LZW min code size 2; one pixel of `colour`.
        gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
        gif.extend_from_slice(&[2, 2, 0x44 | (colour << 3), 0x01, 0]);
    }
    gif.push(0x3B);
    gif
}

/// A minimal baseline JPEG header and end marker: enough for a type check, not for
/// a decoder.
pub fn tiny_jpeg_header() -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    jpeg.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_checks_out() {
        let png = tiny_png();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        // CRC-32 of "IEND" is the well-known AE426082.
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
        assert_ne!(tiny_png_with("a"), tiny_png_with("b"));
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn the_gif_is_a_gif() {
        let gif = tiny_gif();
        assert!(gif.starts_with(b"GIF89a"));
        assert_eq!(gif.last(), Some(&0x3B));
    }

    #[tokio::test]
    async fn files_and_failures_are_served() {
        let host = MediaHost::start().await.unwrap();
        host.serve("/a.png", "image/png", tiny_png());
        host.fail("/gone.png", 503);
        let http = reqwest::Client::new();
        let a = http.get(host.url("/a.png")).send().await.unwrap();
        assert_eq!(a.status(), 200);
        assert_eq!(a.headers()["content-type"], "image/png");
        assert_eq!(a.bytes().await.unwrap().to_vec(), tiny_png());
        let gone = http.get(host.url("/gone.png")).send().await.unwrap();
        assert_eq!(gone.status(), 503);
        assert_eq!(host.hits("/gone.png"), 1);
        assert_eq!(
            http.get(host.url("/nothing"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    }

    #[tokio::test]
    async fn a_fake_network_fetches_what_the_host_serves() {
        let host = MediaHost::start().await.unwrap();
        host.serve("/a.png", "image/png", tiny_png());
        host.fail("/down.png", 503);
        assert_eq!(
            fetch(&host.url("/a.png?w=100")),
            Fetched::File {
                content_type: "image/png".into(),
                bytes: Arc::new(tiny_png())
            }
        );
        assert_eq!(host.hits("/a.png"), 1);
        assert_eq!(fetch(&host.url("/down.png")), Fetched::Status(503));
        assert_eq!(fetch(&host.url("/nothing")), Fetched::Status(404));
        assert_eq!(fetch("https://cdn.example.com/a.png"), Fetched::Unreachable);
        // Port 80 is not the host's port: a prefix of its base URL is no match.
        let base = host.url("");
        assert_eq!(fetch(&format!("{base}0/a.png")), Fetched::Unreachable);
    }
}
