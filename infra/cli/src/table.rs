//! The delivery table `crosspost demo` and `crosspost status` print.

use crosspost_aws::DeliveryRecord;

/// One line per delivery: post, network, account, status, attempts, remote id, error.
pub fn render(rows: &[DeliveryRecord]) -> String {
    let header = ["POST", "NETWORK", "ACCOUNT", "STATUS", "ATTEMPTS", "REMOTE ID", "LAST ERROR"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|d| {
            [
                d.post_id.to_string(),
                d.network.to_string(),
                d.account_id.clone(),
                d.status.to_string(),
                d.attempts.to_string(),
                d.parts
                    .iter()
                    .map(|p| p.remote_id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                d.last_error
                    .as_ref()
                    .map(|e| format!("{}: {}", e.kind, e.message))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        cols.iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(cells.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n") + "\n"
}
