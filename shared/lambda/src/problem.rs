//! `application/problem+json` answers (RFC 9457) for the HTTP functions.

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

/// One failing field: a JSON pointer into the request body and what is wrong with it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

/// A problem answer; `errors` names the failing fields, if any.
pub fn problem(status: StatusCode, detail: &str, errors: &[FieldError]) -> Response<Body> {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        errors,
    };
    let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    let mut resp = Response::new(Body::Text(json));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    resp
}

/// 503 with Retry-After: storage failed; the caller sends the same request again.
pub fn unavailable(e: &crosspost_aws::StoreError) -> Response<Body> {
    tracing::error!(error = %e, "storage failed");
    let mut resp = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage is unavailable; send the request again",
        &[],
    );
    resp.headers_mut()
        .insert("retry-after", header::HeaderValue::from_static("5"));
    resp
}

/// A JSON answer.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => {
            let mut resp = Response::new(Body::Text(body));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the answer could not be encoded",
            &[],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_names_the_field() {
        let resp = problem(
            StatusCode::BAD_REQUEST,
            "the post is incomplete",
            &[FieldError {
                pointer: "/user_id".into(),
                detail: "`user_id` is required".into(),
            }],
        );
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let Body::Text(body) = resp.body() else {
            panic!("text body expected")
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["title"], "Bad Request");
        assert_eq!(v["errors"][0]["pointer"], "/user_id");
    }
}
