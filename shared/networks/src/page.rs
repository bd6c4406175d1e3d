//! What a linked web page says about itself, for a link card: its Open Graph tags
//! (`og:title`, `og:description`, `og:image`, per <https://ogp.me>), else its `<title>`
//! and `<meta name="description">`. The page is fetched through the
//! [`CheckedFetcher`] like every user-given URL (every hop checked, no private
//! addresses), its body read up to [`MAX_PAGE_BYTES`] within a time bound, and parsed
//! with `scraper` (html5ever, a browser-grade HTML parser): a page cut at the limit
//! still parses, and the tags are in its head.

use crate::fetch::{CheckedFetcher, FetchError};
use scraper::{Html, Selector};
use std::time::Duration;
use url::Url;

/// Most bytes of a page read: the head, where the tags are, comes first.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Longest title kept, in characters (Bluesky's card shows about two lines).
const MAX_TITLE_CHARS: usize = 300;
/// Longest description kept, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// A page's card: its final address (after redirects), title, description and image
/// URL (absolute, resolved against the page's address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePreview {
    pub url: String,
    pub title: String,
    pub description: String,
    pub image: Option<String>,
}

/// Why a page gave no card. Its text names the kind of failure only, never the URL
/// (a link may carry a token in its query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The address rules refused a hop (a private address, a scheme, too many redirects).
    #[error("the page's address is refused")]
    Refused,
    /// The host could not be reached, answered too slowly, or broke the body.
    #[error("the page could not be fetched")]
    Unreachable,
    /// The host answered with an error status.
    #[error("the page answered {0}")]
    Status(u16),
    /// The answer is not HTML.
    #[error("the page is not HTML")]
    NotHtml,
    /// The page has no title at all.
    #[error("the page has no title tags")]
    NoTags,
}

/// Fetches `url` through `checked` within `timeout` and reads its card.
pub async fn fetch_preview(
    checked: &CheckedFetcher,
    url: &str,
    timeout: Duration,
) -> Result<PagePreview, PageError> {
    let mut resp = checked.get(url, timeout).await.map_err(|e| match e {
        FetchError::Refused { .. } => PageError::Refused,
        FetchError::Unreachable { .. } => PageError::Unreachable,
    })?;
    if !resp.status().is_success() {
        return Err(PageError::Status(resp.status().as_u16()));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.is_empty()
        && !content_type.starts_with("text/html")
        && !content_type.starts_with("application/xhtml+xml")
    {
        return Err(PageError::NotHtml);
    }
    let page_url = resp.url().clone();
    let mut body = Vec::new();
    while body.len() < MAX_PAGE_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) => return Err(PageError::Unreachable),
        }
    }
    body.truncate(MAX_PAGE_BYTES);
    parse_preview(&String::from_utf8_lossy(&body), &page_url).ok_or(PageError::NoTags)
}

/// The card of the HTML `html` found at `page_url`: None when it has neither an
/// `og:title` nor a `<title>`.
pub fn parse_preview(html: &str, page_url: &Url) -> Option<PagePreview> {
    let doc = Html::parse_document(html);
    let meta = |key: &str| -> Option<String> {
        // Open Graph uses `property`; many pages write `name` instead.
        for attr in ["property", "name"] {
            let selector = Selector::parse(&format!("meta[{attr}=\"{key}\"]")).ok()?;
            let found = doc
                .select(&selector)
                .filter_map(|m| m.value().attr("content"))
                .map(clean)
                .find(|c| !c.is_empty());
            if found.is_some() {
                return found;
            }
        }
        None
    };
    let title_tag = || {
        let selector = Selector::parse("title").ok()?;
        doc.select(&selector)
            .map(|t| clean(&t.text().collect::<String>()))
            .find(|t| !t.is_empty())
    };
    let title = meta("og:title").or_else(title_tag)?;
    let description = meta("og:description")
        .or_else(|| meta("description"))
        .unwrap_or_default();
    let image = meta("og:image")
        .or_else(|| meta("og:image:url"))
        .and_then(|src| page_url.join(&src).ok())
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .map(String::from);
    Some(PagePreview {
        url: page_url.to_string(),
        title: cut(&title, MAX_TITLE_CHARS),
        description: cut(&description, MAX_DESCRIPTION_CHARS),
        image,
    })
}

/// Whitespace runs as one space, trimmed.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://news.example.com/a/story?id=1").unwrap()
    }

    #[test]
    fn open_graph_tags_make_the_card_with_the_image_made_absolute() {
        let html = r#"<!doctype html><html><head>
            <title>Site title</title>
            <meta property="og:title" content="  The  story &amp; more ">
            <meta property="og:description" content="What happened.">
            <meta property="og:image" content="/img/card.jpg">
            </head><body><p>text</p></body></html>"#;
        let card = parse_preview(html, &page()).unwrap();
        assert_eq!(card.title, "The story & more");
        assert_eq!(card.description, "What happened.");
        assert_eq!(
            card.image.as_deref(),
            Some("https://news.example.com/img/card.jpg")
        );
        assert_eq!(card.url, "https://news.example.com/a/story?id=1");
    }

    #[test]
    fn without_open_graph_the_title_and_description_tags_serve() {
        let html = "<html><head><title>\n  茶的故事 \n</title>\
                    <meta name=\"description\" content=\"关于龙井\"></head></html>";
        let card = parse_preview(html, &page()).unwrap();
        assert_eq!(card.title, "茶的故事");
        assert_eq!(card.description, "关于龙井");
        assert_eq!(card.image, None);
        // `name="og:title"` is read too; a data: image is not a URL to fetch.
        let html = r#"<meta name="og:title" content="Named"><meta property="og:image" content="data:image/png;base64,AAAA">"#;
        let card = parse_preview(html, &page()).unwrap();
        assert_eq!(card.title, "Named");
        assert_eq!(card.image, None);
    }

    #[test]
    fn a_page_without_any_title_gives_no_card_and_long_text_is_cut() {
        assert_eq!(parse_preview("<html><body>hi</body></html>", &page()), None);
        assert_eq!(parse_preview("not html at all", &page()), None);
        let long = "a".repeat(400);
        let card = parse_preview(&format!("<title>{long}</title>"), &page()).unwrap();
        assert_eq!(card.title.chars().count(), MAX_TITLE_CHARS + 1);
        assert!(card.title.ends_with('…'));
    }
}
