//! The delivery table `crosspost demo` and `crosspost status` print.

use crosspost_aws::DeliveryRecord;
use serde_json::Value;

/// One delivery as a line of the table.
pub struct Row {
    pub post_id: String,
    pub network: String,
    pub account_id: String,
    pub status: String,
    pub attempts: String,
    pub remote_ids: String,
    pub last_error: String,
}

impl From<&DeliveryRecord> for Row {
    fn from(d: &DeliveryRecord) -> Self {
        Row {
            post_id: d.post_id.to_string(),
            network: d.network.to_string(),
            account_id: d.account_id.clone(),
            status: d.status.to_string(),
            attempts: d.attempts.to_string(),
            remote_ids: d
                .parts
                .iter()
                .map(|p| p.remote_id.as_str())
                .collect::<Vec<_>>()
                .join(","),
            last_error: d
                .last_error
                .as_ref()
                .map(|e| format!("{}: {}", e.kind, e.message))
                .unwrap_or_default(),
        }
    }
}

/// The rows of a `GET /v1/posts/{id}` answer.
pub fn rows_of_status(post: &Value) -> Vec<Row> {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    post["deliveries"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| Row {
                    post_id: s(&post["post_id"]),
                    network: s(&d["network"]),
                    account_id: s(&d["account_id"]),
                    status: s(&d["status"]),
                    attempts: s(&d["attempts"]),
                    remote_ids: d["parts"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .map(|p| s(&p["remote_id"]))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default(),
                    last_error: match &d["last_error"] {
                        Value::Object(e) => format!(
                            "{}: {}",
                            e.get("kind").map(s).unwrap_or_default(),
                            e.get("message").map(s).unwrap_or_default()
                        ),
                        _ => String::new(),
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Aligned columns: post, network, account, status, attempts, remote ids, last error.
pub fn render(rows: &[Row]) -> String {
    let header = [
        "POST",
        "NETWORK",
        "ACCOUNT",
        "STATUS",
        "ATTEMPTS",
        "REMOTE ID",
        "LAST ERROR",
    ];
    let cells: Vec<[&str; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.post_id.as_str(),
                &r.network,
                &r.account_id,
                &r.status,
                &r.attempts,
                &r.remote_ids,
                &r.last_error,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[&str]| {
        cols.iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(&header)];
    out.extend(cells.iter().map(|r| line(r)));
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_status_answer_renders_one_aligned_line_per_delivery() {
        let post = json!({
            "post_id": "p1",
            "deliveries": [
                {"network": "x", "account_id": "42", "status": "PUBLISHED", "attempts": 1,
                 "parts": [{"remote_id": "9"}, {"remote_id": "10"}], "last_error": null},
                {"network": "facebook", "account_id": "7", "status": "FAILED", "attempts": 3,
                 "parts": [], "last_error": {"kind": "permanent", "message": "no"}}
            ]
        });
        let text = render(&rows_of_status(&post));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("p1    x         42       PUBLISHED  1         9,10"),
            "{text}"
        );
        assert!(lines[2].ends_with("permanent: no"), "{text}");
        assert_eq!(lines[0].find("STATUS"), lines[1].find("PUBLISHED"));
    }
}
