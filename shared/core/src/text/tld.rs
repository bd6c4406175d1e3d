//! Top-level domains that make a scheme-less word such as `example.com` a URL.
//!
//! X recognises a URL without `http://`/`https://` only when its host ends in a TLD
//! from IANA's root zone. The full IANA list (well over a thousand names) is **not**
//! carried here: we keep every two-letter country-code TLD, the original generic TLDs,
//! the punycode forms of the Chinese-script country TLDs, and a selection of the newer
//! generic TLDs seen in real posts. A bare host ending in an unlisted TLD
//! (`example.photography`) is therefore counted character by character, while X would
//! count it as 23; a URL written with a scheme is recognised whatever its TLD.

/// Every delegated two-letter country-code TLD (ISO 3166-1 codes plus `ac`, `eu`,
/// `su`, `uk`).
const COUNTRY_CODE: &[&str] = &[
    "ac", "ad", "ae", "af", "ag", "ai", "al", "am", "ao", "aq", "ar", "as", "at", "au", "aw", "ax",
    "az", "ba", "bb", "bd", "be", "bf", "bg", "bh", "bi", "bj", "bm", "bn", "bo", "br", "bs", "bt",
    "bv", "bw", "by", "bz", "ca", "cc", "cd", "cf", "cg", "ch", "ci", "ck", "cl", "cm", "cn", "co",
    "cr", "cu", "cv", "cw", "cx", "cy", "cz", "de", "dj", "dk", "dm", "do", "dz", "ec", "ee", "eg",
    "er", "es", "et", "eu", "fi", "fj", "fk", "fm", "fo", "fr", "ga", "gb", "gd", "ge", "gf", "gg",
    "gh", "gi", "gl", "gm", "gn", "gp", "gq", "gr", "gs", "gt", "gu", "gw", "gy", "hk", "hm", "hn",
    "hr", "ht", "hu", "id", "ie", "il", "im", "in", "io", "iq", "ir", "is", "it", "je", "jm", "jo",
    "jp", "ke", "kg", "kh", "ki", "km", "kn", "kp", "kr", "kw", "ky", "kz", "la", "lb", "lc", "li",
    "lk", "lr", "ls", "lt", "lu", "lv", "ly", "ma", "mc", "md", "me", "mg", "mh", "mk", "ml", "mm",
    "mn", "mo", "mp", "mq", "mr", "ms", "mt", "mu", "mv", "mw", "mx", "my", "mz", "na", "nc", "ne",
    "nf", "ng", "ni", "nl", "no", "np", "nr", "nu", "nz", "om", "pa", "pe", "pf", "pg", "ph", "pk",
    "pl", "pm", "pn", "pr", "ps", "pt", "pw", "py", "qa", "re", "ro", "rs", "ru", "rw", "sa", "sb",
    "sc", "sd", "se", "sg", "sh", "si", "sj", "sk", "sl", "sm", "sn", "so", "sr", "ss", "st", "su",
    "sv", "sx", "sy", "sz", "tc", "td", "tf", "tg", "th", "tj", "tk", "tl", "tm", "tn", "to", "tr",
    "tt", "tv", "tw", "tz", "ua", "ug", "uk", "us", "uy", "uz", "va", "vc", "ve", "vg", "vi", "vn",
    "vu", "wf", "ws", "ye", "yt", "za", "zm", "zw",
];

/// Generic TLDs: the original ones, the sponsored ones, and common newer ones
/// (including those popular with Chinese registrants such as `xin`, `ren`, `wang`).
const GENERIC: &[&str] = &[
    // original and sponsored
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "mil",
    "int",
    "info",
    "biz",
    "name",
    "pro",
    "mobi",
    "asia",
    "tel",
    "travel",
    "jobs",
    "aero",
    "coop",
    "museum",
    "cat",
    "post",
    "xxx",
    // newer generic TLDs
    "academy",
    "agency",
    "app",
    "art",
    "audio",
    "bar",
    "best",
    "bike",
    "bio",
    "blog",
    "book",
    "business",
    "buzz",
    "cafe",
    "camp",
    "capital",
    "care",
    "careers",
    "center",
    "chat",
    "city",
    "click",
    "cloud",
    "club",
    "codes",
    "coffee",
    "college",
    "community",
    "company",
    "cool",
    "design",
    "dev",
    "digital",
    "email",
    "energy",
    "events",
    "expert",
    "fans",
    "finance",
    "fit",
    "fun",
    "fund",
    "games",
    "gallery",
    "global",
    "gold",
    "google",
    "group",
    "guide",
    "guru",
    "health",
    "help",
    "host",
    "house",
    "icu",
    "inc",
    "ink",
    "institute",
    "land",
    "life",
    "link",
    "live",
    "love",
    "ltd",
    "media",
    "menu",
    "moe",
    "money",
    "music",
    "network",
    "news",
    "ninja",
    "one",
    "online",
    "page",
    "photo",
    "photos",
    "pics",
    "place",
    "plus",
    "press",
    "pub",
    "red",
    "ren",
    "run",
    "sale",
    "school",
    "science",
    "services",
    "shop",
    "show",
    "site",
    "social",
    "software",
    "solutions",
    "space",
    "store",
    "studio",
    "style",
    "support",
    "systems",
    "team",
    "tech",
    "technology",
    "tips",
    "today",
    "tokyo",
    "tools",
    "top",
    "tours",
    "town",
    "video",
    "vip",
    "wang",
    "watch",
    "website",
    "wiki",
    "work",
    "works",
    "world",
    "wtf",
    "xin",
    "xyz",
    "youtube",
    "zone",
    // internationalised TLDs in punycode: 中国, 中國, 香港, 台湾, 台灣, 公司, 网络, 在线
    "xn--fiqs8s",
    "xn--fiqz9s",
    "xn--j6w193g",
    "xn--kprw13d",
    "xn--kpry57d",
    "xn--55qx5d",
    "xn--io0a7i",
    "xn--3ds443g",
];

/// Whether `label` (any case) is a TLD this crate knows.
pub(crate) fn is_known(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    COUNTRY_CODE.binary_search(&lower.as_str()).is_ok() || GENERIC.contains(&lower.as_str())
}

/// How many TLDs are carried (for documentation and tests).
#[cfg(test)]
pub(crate) fn count() -> usize {
    COUNTRY_CODE.len() + GENERIC.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_sorted_for_binary_search() {
        assert!(COUNTRY_CODE.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(COUNTRY_CODE.len(), 248);
    }

    #[test]
    fn known_tlds() {
        for tld in [
            "com", "COM", "cn", "jp", "uk", "de", "fr", "dev", "app", "me", "io", "co",
        ] {
            assert!(is_known(tld), "{tld}");
        }
        for tld in ["info", "tv", "ly", "gl", "org", "net", "xn--fiqs8s"] {
            assert!(is_known(tld), "{tld}");
        }
        for not in ["js", "html", "bz2", "comm", "x", ""] {
            assert!(!is_known(not), "{not}");
        }
        assert!(count() > 400);
    }
}
