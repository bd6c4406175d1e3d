//! What a linked web page says about itself, for a link card: its Open Graph tags
//! (`og:title`, `og:description`, `og:image`, per <https://ogp.me>), else its `<title>`
//! and `<meta name="description">`. The page is fetched through the
//! [`CheckedFetcher`] like every user-given URL (every hop checked, no private
//! addresses), its body read up to [`MAX_PAGE_BYTES`] within a time bound, and read
//! with `html5gum` (the WHATWG HTML tokenizer, tested against html5lib-tests): a page
//! cut at the limit still reads, and the tags are in its head. Its tokens are enough:
//! a card needs the `<meta>` tags' attributes and the `<title>`'s text, with character
//! references decoded, not the document's tree.

use crate::fetch::{CheckedFetcher, FetchError};
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED};
use html5gum::{DefaultEmitter, HtmlString, State, Token, Tokenizer};
use std::collections::BTreeMap;
use std::time::Duration;
use unicode_segmentation::UnicodeSegmentation;
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
    read_preview(&body, &content_type, &page_url).ok_or(PageError::NoTags)
}

/// The `<meta>` keys a card reads, in the order tried for each field.
const CARD_KEYS: [&str; 5] = [
    "og:title",
    "og:description",
    "description",
    "og:image",
    "og:image:url",
];

/// What a page's tags are read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// The card's metas and title.
    Card,
    /// The card, and the encoding the first `<meta>` naming one names ([`meta_named`]).
    /// When that encoding is not UTF-8 the reading stops there: the page is to be
    /// decoded in it and read again.
    CardAndEncoding,
}

/// What a page's tags give: for a card, for each of [`CARD_KEYS`], the first
/// non-empty `content` of a `<meta property=key>` and of a `<meta name=key>`, the
/// first non-empty `<title>`, and when asked the encoding the first `<meta>` naming one
/// names.
/// Read as the tags stream past, so a page of a million tags takes no more memory than
/// a page of ten.
#[derive(Debug, Default)]
struct CardTags {
    /// By key (as [`CARD_KEYS`]): the content found with `property`, then with `name`.
    found: [[Option<String>; 2]; 5],
    title: Option<String>,
    charset: Option<&'static Encoding>,
}

impl CardTags {
    /// The first non-empty content of `key`, a `property` first (Open Graph's
    /// attribute), else a `name` (which many pages write instead).
    fn meta(&self, key: &str) -> Option<String> {
        let at = CARD_KEYS.iter().position(|k| *k == key)?;
        let [property, name] = &self.found[at];
        property.clone().or_else(|| name.clone())
    }

    fn read_meta(
        &mut self,
        attrs: &BTreeMap<HtmlString, html5gum::Spanned<HtmlString, ()>>,
        read: Read,
    ) {
        let attr = |name: &str| {
            attrs
                .get(name.as_bytes())
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let content = attr("content");
        if read == Read::CardAndEncoding && self.charset.is_none() {
            // The value exactly, in any case: `"Content-Type "` is not it.
            let content_type =
                attr("http-equiv").is_some_and(|h| h.eq_ignore_ascii_case("content-type"));
            let label = attr("charset").or_else(|| {
                let content = content.as_deref().filter(|_| content_type)?;
                meta_charset(content).map(str::to_owned)
            });
            // A label that names no encoding is passed over, as the standard's prescan
            // does: a later <meta> may name one.
            self.charset = label
                .and_then(|l| Encoding::for_label(l.as_bytes()))
                .map(meta_named);
        }
        let Some(content) = content.map(|c| clean(&c)).filter(|c| !c.is_empty()) else {
            return;
        };
        for (slot, attr_name) in ["property", "name"].into_iter().enumerate() {
            let Some(key) = attr(attr_name) else { continue };
            if let Some(at) = CARD_KEYS.iter().position(|k| *k == key) {
                self.found[at][slot].get_or_insert_with(|| content.clone());
            }
        }
    }
}

/// The state the tokenizer goes into after an HTML start tag `name`, as the HTML
/// standard's tree builder switches it ("parsing HTML documents", the rules for
/// each element): a tag written inside a script or a title is not a tag.
fn text_state(name: &[u8]) -> Option<State> {
    match name {
        b"title" | b"textarea" => Some(State::RcData),
        b"style" | b"xmp" | b"iframe" | b"noembed" | b"noframes" | b"noscript" => {
            Some(State::RawText)
        }
        b"script" => Some(State::ScriptData),
        b"plaintext" => Some(State::PlainText),
        _ => None,
    }
}

/// Whether the start tag `name` inside foreign content closes it, as the HTML standard
/// says ("the rules for parsing tokens in foreign content"; `<font>` with attributes
/// left out).
fn breaks_out_of_foreign(name: &[u8]) -> bool {
    matches!(
        name,
        b"b" | b"big"
            | b"blockquote"
            | b"body"
            | b"br"
            | b"center"
            | b"code"
            | b"dd"
            | b"div"
            | b"dl"
            | b"dt"
            | b"em"
            | b"embed"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"head"
            | b"hr"
            | b"i"
            | b"img"
            | b"li"
            | b"listing"
            | b"menu"
            | b"meta"
            | b"nobr"
            | b"ol"
            | b"p"
            | b"pre"
            | b"ruby"
            | b"s"
            | b"small"
            | b"span"
            | b"strong"
            | b"strike"
            | b"sub"
            | b"sup"
            | b"table"
            | b"tt"
            | b"u"
            | b"ul"
            | b"var"
    )
}

/// The most text of a `<title>` kept while it is read (a title is cut to
/// [`MAX_TITLE_CHARS`] anyway; a page that never closes its title stops here).
const MAX_TITLE_TEXT_BYTES: usize = 64 * 1024;

/// The most `<svg>` and `<math>` elements open inside each other that are followed.
const MAX_FOREIGN_DEPTH: usize = 256;

/// The card's tags of `html`. Inside `<svg>` and `<math>` (foreign content) a
/// `<style>` or `<title>` is an ordinary element, so the tokenizer's state only
/// changes outside them; an HTML-only start tag, `</p>` or `</br>` leaves them, and an
/// end tag closes the nearest open element of its name. A title the page's end cuts
/// off keeps its text so far.
fn card_tags(html: &str, read: Read) -> CardTags {
    let mut tags = CardTags::default();
    let mut tokens = Tokenizer::new_with_emitter(html, DefaultEmitter::default());
    let mut title: Option<String> = None;
    // The <svg> and <math> elements open, innermost last.
    let mut foreign: Vec<bool> = Vec::new();
    let root = |name: &[u8]| match name {
        b"svg" => Some(true),
        b"math" => Some(false),
        _ => None,
    };
    while let Some(Ok(token)) = tokens.next() {
        match token {
            Token::StartTag(tag) if !foreign.is_empty() && !breaks_out_of_foreign(&tag.name) => {
                if let Some(is_svg) = root(&tag.name).filter(|_| !tag.self_closing) {
                    if foreign.len() < MAX_FOREIGN_DEPTH {
                        foreign.push(is_svg);
                    }
                }
            }
            Token::EndTag(tag) if !foreign.is_empty() && tag.name != b"p" && tag.name != b"br" => {
                if let Some(is_svg) = root(&tag.name) {
                    if let Some(at) = foreign.iter().rposition(|open| *open == is_svg) {
                        foreign.truncate(at);
                    }
                }
            }
            Token::StartTag(tag) => {
                // An HTML-only tag inside foreign content closes it.
                foreign.clear();
                if tag.name == b"meta" {
                    tags.read_meta(&tag.attributes, read);
                    if tags.charset.is_some_and(|encoding| encoding != UTF_8) {
                        break;
                    }
                } else if let Some(is_svg) = root(&tag.name).filter(|_| !tag.self_closing) {
                    foreign.push(is_svg);
                } else if tag.name == b"title" && tags.title.is_none() {
                    title = Some(String::new());
                }
                if let Some(state) = text_state(&tag.name) {
                    tokens.set_state(state);
                }
            }
            Token::EndTag(_) if !foreign.is_empty() => foreign.clear(),
            Token::String(s) => {
                if let Some(title) = title.as_mut().filter(|t| t.len() < MAX_TITLE_TEXT_BYTES) {
                    title.push_str(&String::from_utf8_lossy(&s));
                }
            }
            Token::EndTag(tag) if tag.name == b"title" => {
                let text = title.take().map(|t| clean(&t)).filter(|t| !t.is_empty());
                tags.title = tags.title.take().or(text);
            }
            _ => {}
        }
    }
    if tags.title.is_none() {
        tags.title = title.map(|t| clean(&t)).filter(|t| !t.is_empty());
    }
    tags
}

/// The card of the HTML text `html` found at `page_url`: None when it has neither an
/// `og:title` nor a `<title>`.
pub fn parse_preview(html: &str, page_url: &Url) -> Option<PagePreview> {
    preview_of(&card_tags(html, Read::Card), page_url)
}

/// The card of a page's bytes `body`, served from `page_url` with the `Content-Type`
/// header `content_type` (empty when none): None when it has neither an `og:title` nor
/// a `<title>`. The bytes are decoded as a browser decodes them (the WHATWG HTML
/// standard's "determining the character encoding", through `encoding_rs`): a byte
/// order mark; else the `charset` of the header; else the first `<meta charset>` or
/// `<meta http-equiv="Content-Type" content="…charset=…">` of the page as its tokens
/// read (where the standard's prescan finds one in the first 1024 bytes, or its parser
/// later changes the encoding for one; a `<meta>` inside a script's or a style's text
/// is not one here), as [`meta_named`] maps it; else UTF-8. A label that names no
/// encoding the standard knows (`charset=klingon`) counts as none. Bytes not valid in
/// the encoding become U+FFFD. Checked against html5lib's encoding tests.
///
/// A page whose encoding neither a byte order mark nor the header names is first read
/// as UTF-8 (its tags are ASCII in every encoding a page may use), for its card and
/// its `<meta>` encoding at once; only when that encoding is not UTF-8 is it decoded
/// and read again.
pub fn read_preview(body: &[u8], content_type: &str, page_url: &Url) -> Option<PagePreview> {
    let tags = match declared_encoding(body, content_type) {
        Some(encoding) => card_tags(&encoding.decode(body).0, Read::Card),
        None => {
            let tags = card_tags(&String::from_utf8_lossy(body), Read::CardAndEncoding);
            match tags.charset {
                Some(encoding) if encoding != UTF_8 => {
                    card_tags(&encoding.decode(body).0, Read::Card)
                }
                _ => tags,
            }
        }
    };
    preview_of(&tags, page_url)
}

/// The card of the tags `tags` of the page at `page_url`.
fn preview_of(tags: &CardTags, page_url: &Url) -> Option<PagePreview> {
    let meta = |key: &str| tags.meta(key);
    let title = meta("og:title").or_else(|| tags.title.clone())?;
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

/// The encoding a page's bytes `body` name before any tag: a byte order mark, else the
/// `charset` of the `Content-Type` header `content_type`, when it names one.
fn declared_encoding(body: &[u8], content_type: &str) -> Option<&'static Encoding> {
    Encoding::for_bom(body)
        .map(|(encoding, _)| encoding)
        .or_else(|| charset_param(content_type).and_then(|l| Encoding::for_label(l.as_bytes())))
}

/// The label in a `<meta http-equiv="Content-Type">`'s `content`, as the HTML
/// standard's "algorithm for extracting a character encoding from a meta element"
/// finds it: after a `charset`, white space, `=` and white space, a quoted value (none
/// when its quote is never closed), else the text up to white space or `;`.
fn meta_charset(content: &str) -> Option<&str> {
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    // Lower-casing keeps every byte where it is, so its positions hold in `content`.
    let lower = content.to_ascii_lowercase();
    let mut from = 0;
    loop {
        let at = from + lower[from..].find("charset")?;
        let rest = content[at + "charset".len()..].trim_start_matches(is_space);
        from = content.len() - rest.len();
        if let Some(value) = rest.strip_prefix('=') {
            let value = value.trim_start_matches(is_space);
            return match value.chars().next()? {
                quote @ ('"' | '\'') => {
                    let inner = &value[1..];
                    inner.find(quote).map(|end| &inner[..end])
                }
                _ => value.split(|c| is_space(c) || c == ';').next(),
            };
        }
    }
}

/// The `charset` parameter of a media type (`text/html; charset="GBK"` → `GBK`).
fn charset_param(media_type: &str) -> Option<&str> {
    media_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(|c| c == '"' || c == '\''))
    })
}

/// The encoding a page is read in when a `<meta>` names `encoding`. As the HTML standard
/// says, a page claiming UTF-16 there is read as UTF-8 (its ASCII tags show it is not),
/// and `x-user-defined` as windows-1252.
fn meta_named(encoding: &'static Encoding) -> &'static Encoding {
    if encoding == UTF_16BE || encoding == UTF_16LE {
        UTF_8
    } else if encoding == X_USER_DEFINED {
        WINDOWS_1252
    } else {
        encoding
    }
}

/// Whether `c` changes the direction of the text around it: the bidi embeddings and
/// overrides (U+202A–U+202E) and isolates (U+2066–U+2069), which can make a title
/// read differently from what it holds (`good\u{202E}txt.exe`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Without control characters (other than white space) and bidi controls; white
/// space runs as one space, trimmed.
fn clean(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|&c| !is_bidi_control(c) && (c.is_whitespace() || !c.is_control()))
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` when it has at most `max_chars` characters, else its longest start of whole
/// graphemes within `max_chars` characters, and `…` (an emoji sequence or a letter
/// with its accents is never cut in half).
fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut end = 0;
    let mut chars = 0;
    for (at, g) in text.grapheme_indices(true) {
        chars += g.chars().count();
        if chars > max_chars {
            break;
        }
        end = at + g.len();
    }
    format!("{}…", &text[..end])
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

    #[test]
    fn tags_are_read_as_a_browser_reads_them() {
        // Character references, named and numeric, in text and in attributes.
        let html = "<title>Tea&nbsp;&mdash;&#x4E2D;&#25991; &amp;c</title>\
                    <meta property=og:description content='&quot;Ok&quot; &lt;3 &copy'>";
        let card = parse_preview(html, &page()).unwrap();
        // (a no-break space is white space, run into one space)
        assert_eq!(card.title, "Tea —中文 &c");
        assert_eq!(card.description, "\"Ok\" <3 ©");
        // A tag inside a script, a comment or a title is not a tag; tag and attribute
        // names are read in any case; the first of a repeated attribute counts.
        let html = r#"<script>var s = '<meta property="og:title" content="script">';</script>
            <!-- <meta property="og:title" content="comment"> -->
            <TITLE>A <b>bold</b> title</TITLE>
            <META PROPERTY="og:image" Content="/a.png" content="/b.png">"#;
        let card = parse_preview(html, &page()).unwrap();
        assert_eq!(card.title, "A <b>bold</b> title");
        assert_eq!(
            card.image.as_deref(),
            Some("https://news.example.com/a.png")
        );
        // Inside SVG or MathML, <style> and <title> are ordinary elements; an HTML-only
        // tag such as <meta> leaves them; <noframes> holds text.
        let html = r#"<svg><style/><title/></svg><p>body text</p>
            <svg><style>.a{fill:red}</style><title>Icon</title><g><meta property="og:title" content="Out"></g></svg>
            <noframes><meta property="og:description" content="hidden"></noframes>
            <meta name="description" content="shown">"#;
        let card = parse_preview(html, &page()).unwrap();
        assert_eq!(card.title, "Out");
        assert_eq!(card.description, "shown");
        // End tags close the element of their name; </p> leaves foreign content; a
        // charset label that names nothing is passed over.
        let html = "<svg><math></svg><title>After</title>";
        assert_eq!(parse_preview(html, &page()).unwrap().title, "After");
        let html = "<p><svg></p><title>T</title>";
        assert_eq!(parse_preview(html, &page()).unwrap().title, "T");
        let html = "<svg></math><title>inside svg</title></svg><title>Doc</title>";
        assert_eq!(parse_preview(html, &page()).unwrap().title, "Doc");
        let body = encoded(
            "shift_jis",
            r#"<meta charset=""><meta charset="shift_jis"><title>煎茶</title>"#,
        );
        assert_eq!(title_of(&body, ""), "煎茶");
        // A page cut off inside its title keeps the text so far.
        let card = parse_preview("<head><title>Half a ti", &page()).unwrap();
        assert_eq!(card.title, "Half a ti");
    }

    /// html5lib's encoding tests (`tests/data/html5lib-encoding`): `(data, encoding)`.
    fn html5lib_encoding_cases(dat: &[u8]) -> Vec<(&[u8], &str)> {
        let mut cases = Vec::new();
        for test in split_on(dat, b"#data\n") {
            let at = test
                .windows(11)
                .position(|w| w == b"\n#encoding\n")
                .expect("every test names its encoding");
            let label = std::str::from_utf8(&test[at + 11..]).unwrap();
            cases.push((&test[..at], label.lines().next().unwrap().trim()));
        }
        cases
    }

    fn split_on<'a>(bytes: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
        let mut parts = Vec::new();
        let mut rest = bytes;
        while let Some(at) = rest.windows(sep.len()).position(|w| w == sep) {
            parts.push(&rest[..at]);
            rest = &rest[at + sep.len()..];
        }
        parts.push(rest);
        parts.into_iter().filter(|p| !p.is_empty()).collect()
    }

    /// html5lib encoding tests whose page we read differently on purpose (the start of
    /// their data): a `<meta>` written by a script, or inside a `<script>` or `<style>`,
    /// is found by a browser (which runs the script, or whose prescan looks for
    /// `<meta` in the first bytes whatever surrounds it), not by link cards, which
    /// take tags as the tokenizer reads them and run no script.
    const DIFFERENT: [&[u8]; 3] = [
        b"<!DOCTYPE HTML>\n<script>document.write('<meta charset=",
        b"<!DOCTYPE HTML>\n<script type=\"text/plain\"><meta charset=",
        b"<!DOCTYPE HTML>\n<style type=\"text/plain\"><meta charset=",
    ];

    #[test]
    fn a_meta_content_names_its_charset_as_the_standard_extracts_it() {
        assert_eq!(meta_charset("text/html; charset=gbk"), Some("gbk"));
        assert_eq!(
            meta_charset("charsetcharset x CHARSET = 'Big5' y"),
            Some("Big5")
        );
        assert_eq!(
            meta_charset("日本語 charset=\"shift_jis\"; 日"),
            Some("shift_jis")
        );
        assert_eq!(meta_charset("xcharset=euc-kr;q"), Some("euc-kr"));
        assert_eq!(meta_charset("charset='utf-8"), None, "a quote never closed");
        assert_eq!(meta_charset("text/html; charset"), None);
        assert_eq!(meta_charset("charset=“gbk”"), Some("“gbk”"));
        // A million bytes of near misses are read once, not once per miss.
        let near_misses = "charset".repeat(150_000);
        assert_eq!(meta_charset(&near_misses), None);
    }

    const DATS: [&[u8]; 2] = [
        include_bytes!("../../../tests/data/html5lib-encoding/tests1.dat"),
        include_bytes!("../../../tests/data/html5lib-encoding/tests2.dat"),
    ];

    #[test]
    fn html5lib_encoding_tests() {
        let mut failed = Vec::new();
        let (mut count, mut different) = (0, 0);
        for dat in DATS {
            for (data, expected) in html5lib_encoding_cases(dat) {
                count += 1;
                let expected = Encoding::for_label(expected.as_bytes()).unwrap();
                // The tests' default when nothing names one; ours is UTF-8.
                let found = page_encoding(data, "").unwrap_or(WINDOWS_1252);
                if DIFFERENT.iter().any(|d| data.starts_with(d)) {
                    // Asserted as different: we find no encoding there.
                    assert_ne!(found, expected);
                    assert_eq!(found, WINDOWS_1252);
                    different += 1;
                } else if found != expected {
                    failed.push(format!(
                        "{:?}: {} not {}",
                        String::from_utf8_lossy(&data[..data.len().min(120)]),
                        found.name(),
                        expected.name()
                    ));
                }
            }
        }
        let lines =
            |dat: &[u8], line: &[u8]| dat.split(|b| *b == b'\n').filter(|l| *l == line).count();
        let data_lines: usize = DATS.iter().map(|d| lines(d, b"#data")).sum();
        assert_eq!(count, data_lines, "every test read");
        assert_eq!(count, 81);
        assert_eq!(different, DIFFERENT.len());
        assert!(
            failed.is_empty(),
            "{} of {count}:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }

    fn encoded(label: &str, html: &str) -> Vec<u8> {
        let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap();
        let (bytes, _, unmappable) = encoding.encode(html);
        assert!(!unmappable, "{html} in {label}");
        bytes.into_owned()
    }

    fn title_of(body: &[u8], content_type: &str) -> String {
        read_preview(body, content_type, &page()).unwrap().title
    }

    /// The encoding [`read_preview`] decodes `body` in, by the same steps.
    fn page_encoding(body: &[u8], content_type: &str) -> Option<&'static Encoding> {
        declared_encoding(body, content_type)
            .or_else(|| card_tags(&String::from_utf8_lossy(body), Read::CardAndEncoding).charset)
    }

    #[test]
    fn the_header_charset_decodes_the_page_and_wins_over_a_meta() {
        let body = encoded(
            "gbk",
            r#"<meta charset="utf-8"><title>西湖龙井茶的故事</title>"#,
        );
        assert_eq!(
            title_of(&body, "text/html; charset=GBK"),
            "西湖龙井茶的故事"
        );
        assert_eq!(
            title_of(&body, r#"text/html;charset="gb2312""#),
            "西湖龙井茶的故事"
        );
    }

    #[test]
    fn a_meta_charset_in_the_first_bytes_decodes_the_page() {
        let body = encoded(
            "shift_jis",
            r#"<html><head><META CharSet='Shift_JIS'><title>静岡の煎茶</title>
            <meta property="og:description" content="お茶の話"></head></html>"#,
        );
        let card = read_preview(&body, "text/html", &page()).unwrap();
        assert_eq!(card.title, "静岡の煎茶");
        assert_eq!(card.description, "お茶の話");
    }

    #[test]
    fn an_http_equiv_content_type_in_the_first_bytes_decodes_the_page() {
        let body = encoded(
            "gb2312",
            r#"<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">
            <title>龙井茶</title></head></html>"#,
        );
        assert_eq!(title_of(&body, ""), "龙井茶");
    }

    #[test]
    fn a_page_read_as_utf8_first_is_read_again_in_the_encoding_its_meta_names() {
        // The title comes before the <meta>: the first reading, as UTF-8, took the GBK
        // bytes for text; the card is the second reading's.
        let body = encoded(
            "gbk",
            r#"<title>龙井</title><meta property="og:description" content="西湖"><meta charset="gbk">"#,
        );
        let card = read_preview(&body, "", &page()).unwrap();
        assert_eq!(card.title, "龙井");
        assert_eq!(card.description, "西湖");
        // A <meta> naming UTF-8 (or UTF-16, read as UTF-8), or none: the first reading
        // is the card, and it reads on past that <meta> to the page's end.
        for meta in [
            r#"<meta charset="utf-8">"#,
            r#"<meta charset="utf-16le">"#,
            "",
        ] {
            let html = format!(
                r#"<title>茶</title>{meta}<meta property="og:title" content="龙井 🍵"><meta name="description" content="西湖">"#
            );
            let card = read_preview(html.as_bytes(), "", &page()).unwrap();
            assert_eq!(
                (card.title.as_str(), card.description.as_str()),
                ("龙井 🍵", "西湖"),
                "{meta}"
            );
        }
    }

    #[test]
    fn an_unknown_or_missing_label_falls_back_to_utf8() {
        let body = r#"<meta charset="no-such-charset"><title>茶の話 🍵</title>"#.as_bytes();
        assert_eq!(title_of(body, "text/html; charset=klingon"), "茶の話 🍵");
        assert_eq!(title_of(body, "text/html"), "茶の話 🍵");
        assert_eq!(title_of("<title>茶</title>".as_bytes(), ""), "茶");
    }

    #[test]
    fn titles_are_cut_between_graphemes_without_control_or_bidi_characters() {
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦";
        let long = format!("{}{family}", "a".repeat(MAX_TITLE_CHARS - 2));
        let card = parse_preview(&format!("<title>{long}</title>"), &page()).unwrap();
        assert_eq!(card.title, format!("{}…", "a".repeat(MAX_TITLE_CHARS - 2)));
        let html = "<title>good\u{202e}txt.exe\u{2066} tea\u{7}\u{1b}</title>\
                    <meta name=\"description\" content=\"\u{202a}a\u{2069}b\u{8}c\u{85}\">";
        let card = parse_preview(html, &page()).unwrap();
        assert_eq!(card.title, "goodtxt.exe tea");
        assert_eq!(card.description, "abc");
    }
}
