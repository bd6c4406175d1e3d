//! `POST /v1/preview`: what each network would receive, nothing stored. The media's
//! first bytes are read through the workers' own fetcher and planned by the same rule
//! (`crosspost_core::media::plan`), so the preview tells what the workers will do; a
//! file that cannot be read now is planned from its hints, with a note saying why.

use crate::intake::{parse_json, Refusal};
use crate::App;
use crosspost_core::media::{plan, Sniffed};
use crosspost_core::preview::{preview, NetworkPreview};
use crosspost_core::{
    FieldError, IncomingTarget, MediaHosts, MediaItem, Mentions, Network, Overflow, ValidatedPost,
};
use crosspost_lambda::problem::json;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct PreviewAnswer {
    networks: Vec<NetworkPreview>,
}

/// The preview body: text, link, overflow, mentions, media and targets (with their own
/// texts) as in a post, and which networks (by default the targets' networks, else
/// every network).
struct PreviewRequest {
    text: String,
    media: Vec<MediaItem>,
    link: Option<String>,
    overflow: Overflow,
    mentions: Mentions,
    targets: Vec<IncomingTarget>,
    networks: Vec<Network>,
}

impl PreviewRequest {
    /// The text `network` gets, by publishing's rule for the first account the targets
    /// name on it: that account's target text, else the text of the target naming only
    /// the network, else the post's. (One text per network: accounts of one network
    /// given different texts are previewed by the first.)
    fn text_for(&self, network: Network) -> &str {
        let own = |named: bool| {
            self.targets
                .iter()
                .find(|t| t.network == network && t.account_id.is_some() == named)
                .and_then(|t| t.text.as_deref())
        };
        own(true).or_else(|| own(false)).unwrap_or(&self.text)
    }
}

/// The fields a preview body may hold.
const KNOWN: &[&str] = &[
    "text", "link", "overflow", "mentions", "media", "targets", "networks",
];

fn parse(value: &Value, media_hosts: MediaHosts) -> Result<PreviewRequest, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError {
            pointer: String::new(),
            detail: "the body must be a JSON object".into(),
        }]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !KNOWN.contains(&key.as_str()) {
            errors.push(FieldError {
                pointer: format!("/{key}"),
                detail: format!("unknown field `{key}`"),
            });
        }
    }
    // The post rules apply to text, link and overflow: check them through a post.
    let mut as_post = serde_json::Map::new();
    as_post.insert("id".into(), Value::from("preview"));
    as_post.insert("user_id".into(), Value::from("preview"));
    for k in ["text", "link", "overflow", "mentions", "media", "targets"] {
        if let Some(v) = obj.get(k) {
            as_post.insert(k.into(), v.clone());
        }
    }
    let post = match ValidatedPost::parse(&Value::Object(as_post), media_hosts) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let target_networks = post.as_ref().and_then(|p| p.targets.as_ref()).map(|t| {
        let mut out: Vec<Network> = Vec::new();
        for n in t.iter().map(|t| t.network) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    });
    let networks = match obj.get("networks") {
        None | Some(Value::Null) => target_networks.unwrap_or_else(|| Network::ALL.to_vec()),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str().map(str::parse::<Network>) {
                    Some(Ok(n)) if !out.contains(&n) => out.push(n),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => errors.push(FieldError {
                        pointer: format!("/networks/{i}"),
                        detail: e.to_string(),
                    }),
                    None => errors.push(FieldError {
                        pointer: format!("/networks/{i}"),
                        detail: "a network must be a string".into(),
                    }),
                }
            }
            out
        }
        Some(_) => {
            errors.push(FieldError {
                pointer: "/networks".into(),
                detail: "`networks` must be an array".into(),
            });
            Vec::new()
        }
    };
    match post {
        Some(post) if errors.is_empty() => Ok(PreviewRequest {
            text: post.text,
            media: post.media,
            link: post.link,
            overflow: post.overflow,
            mentions: post.mentions,
            targets: post.targets.unwrap_or_default(),
            networks,
        }),
        _ => Err(errors),
    }
}

impl App {
    pub async fn preview(&self, body: &[u8]) -> Response<Body> {
        let value = match parse_json(body) {
            Ok(v) => v,
            Err(refusal) => return refusal.into_response(),
        };
        let req = match parse(&value, self.media_hosts) {
            Ok(r) => r,
            Err(errors) => return Refusal::Unprocessable(errors).into_response(),
        };
        // Each file is read once, whatever the number of networks.
        let sniffed: Vec<Sniffed> = self
            .media
            .sniff_each(&req.media)
            .await
            .into_iter()
            .map(|found| {
                found.unwrap_or_else(|e| Sniffed::Unread {
                    reason: e.to_string(),
                })
            })
            .collect();
        let networks = req
            .networks
            .iter()
            .map(|n| {
                let text = req.text_for(*n);
                if text.trim().is_empty() && req.media.is_empty() {
                    // What publishing would refuse at intake: nothing to post there.
                    return NetworkPreview {
                        network: *n,
                        parts: Vec::new(),
                        error: Some(format!(
                            "no_text: the post's text is empty and no target gives {n} a text of its own"
                        )),
                        media: Default::default(),
                    };
                }
                let has_media = !req.media.is_empty();
                preview(*n, text, req.link.as_deref(), has_media, req.overflow, req.mentions)
                    .with_media(plan(*n, &req.media, &sniffed))
            })
            .collect();
        json(StatusCode::OK, &PreviewAnswer { networks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(network: Network, account_id: Option<&str>, text: &str) -> IncomingTarget {
        IncomingTarget {
            network,
            account_id: account_id.map(str::to_owned),
            text: Some(text.to_owned()),
        }
    }

    #[test]
    fn a_network_gets_the_text_publishing_gives_its_named_account() {
        let mut req = PreviewRequest {
            text: "post".into(),
            media: Vec::new(),
            link: None,
            overflow: Overflow::Thread,
            mentions: Mentions::Plain,
            targets: vec![
                target(Network::X, None, "wide"),
                target(Network::X, Some("42"), "acct"),
            ],
            networks: vec![Network::X, Network::Facebook],
        };
        assert_eq!(req.text_for(Network::X), "acct");
        assert_eq!(req.text_for(Network::Facebook), "post");
        req.targets.reverse();
        assert_eq!(req.text_for(Network::X), "acct", "whatever the order");
        req.targets.retain(|t| t.account_id.is_none());
        assert_eq!(req.text_for(Network::X), "wide");
    }
}
