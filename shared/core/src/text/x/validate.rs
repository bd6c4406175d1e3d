//! twitter-text's validators for single tokens: a username, a list, a hashtag, a URL.
//! A post's own validity is [`super::parse`]'s `valid`.

use crate::text::entities;

/// `@name`, exactly one mention and nothing else.
pub fn is_valid_username(text: &str) -> bool {
    let found = entities::mentions_or_lists(text);
    found.len() == 1 && found[0] == (0..text.len()) && !text.contains('/')
}

/// `@name/list`, exactly one list and nothing else.
pub fn is_valid_list(text: &str) -> bool {
    let found = entities::mentions_or_lists(text);
    found.len() == 1 && found[0] == (0..text.len()) && text.contains('/')
}

/// `#tag`, exactly one hashtag and nothing else.
pub fn is_valid_hashtag(text: &str) -> bool {
    let found = entities::hashtags(text);
    found.len() == 1 && found[0] == (0..text.len())
}

/// twitter-text's `isValidUrl` with host names in any script: an `http`/`https` URL
/// (the scheme may be left out when `require_scheme` is false) whose every part is made
/// of the characters RFC 3986 allows there, with a host that is an IPv4 address, a
/// bracketed IPv6 address or a domain name of at least two labels.
pub fn is_valid_url(url: &str, require_scheme: bool) -> bool {
    if url.is_empty() {
        return false;
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) if !s.is_empty() && !s.contains(['/', '?', '#']) => (Some(s), r),
        _ => (None, url),
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let scheme_ok = !require_scheme
        || scheme
            .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    scheme_ok
        && fragment.is_none_or(|f| !f.contains(['\n', '\r', '\u{2028}', '\u{2029}']))
        && (path.is_empty() || path.starts_with('/') && made_of(path, |c| c == '/'))
        && query.is_none_or(|q| made_of(q, |c| c == '/' || c == '?'))
        && fragment.is_none_or(|f| made_of(f, |c| c == '/' || c == '?'))
        && authority_ok(authority)
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~".contains(c) || ('\u{400}'..='\u{4FF}').contains(&c)
}

fn is_sub_delim(c: char) -> bool {
    "!$&'()*+,;=".contains(c)
}

/// Every character is a path character (`pchar`), a valid `%XX`, or `extra`.
fn made_of(s: &str, extra: impl Fn(char) -> bool) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let ok = if c == '%' {
            let hex = (chars.next(), chars.next());
            matches!(hex, (Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit())
        } else {
            is_unreserved(c) || is_sub_delim(c) || matches!(c, ':' | '|' | '@') || extra(c)
        };
        if !ok {
            return false;
        }
    }
    true
}

fn authority_ok(authority: &str) -> bool {
    let host_port = match authority.split_once('@') {
        Some((user, rest)) => {
            if !made_of(user, |_| false) || user.contains(['|', '@']) {
                return false;
            }
            rest
        }
        None => authority,
    };
    if host_ok(host_port) {
        return true;
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => {
            (1..=5).contains(&port.len())
                && port.chars().all(|c| c.is_ascii_digit())
                && host_ok(host)
        }
        None => false,
    }
}

fn host_ok(host: &str) -> bool {
    ipv4_ok(host) || ipv6_ok(host) || domain_ok(host)
}

fn ipv4_ok(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.chars().all(|c| c.is_ascii_digit())
                && (o.len() == 1 || !o.starts_with('0'))
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

fn ipv6_ok(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        })
}

/// Labels of ASCII letters, digits, `-` inside (and `_` inside the subdomains) or any
/// non-ASCII character; the last (the TLD) starts with a letter.
fn domain_ok(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let edge = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
    let label_ok = |l: &str, underscore: bool| {
        let (Some(first), Some(last)) = (l.chars().next(), l.chars().last()) else {
            return false;
        };
        edge(first)
            && edge(last)
            && l.chars()
                .all(|c| edge(c) || c == '-' || (underscore && c == '_'))
    };
    let n = labels.len();
    let tld = labels[n - 1];
    labels[..n - 2].iter().all(|l| label_ok(l, true))
        && label_ok(labels[n - 2], false)
        && label_ok(tld, false)
        && tld
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || !c.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(is_valid_url("https://例子.com/a?b=c#d", true));
        assert!(is_valid_url("http://user:pw@10.0.0.1:8080/x", true));
        assert!(!is_valid_url("example.com", true));
        assert!(is_valid_url("example.com", false));
        assert!(!is_valid_url("http://a_b.com", true));
        assert!(!is_valid_url("http://x.com/a b", true));
    }

    #[test]
    fn tokens() {
        assert!(is_valid_username("@jack"));
        assert!(!is_valid_username("@jack/list"));
        assert!(is_valid_list("@jack/list"));
        assert!(!is_valid_list(" @jack/list"));
        assert!(is_valid_hashtag("#话题"));
        assert!(!is_valid_hashtag("#123"));
    }
}
