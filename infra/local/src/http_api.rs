//! The local HTTP API: serves the template's `HttpApi` routes and turns each request into
//! an API Gateway HTTP API payload 2.0 event, as API Gateway does.
//!
//! Error answers: an unknown route is 404 and any failed invocation (function error,
//! timeout, crash, malformed response) is 500 `{"title":"Internal Server Error"}`, both as
//! `application/problem+json`. (API Gateway itself answers `{"message": ...}` with 404 and
//! 500; the shape is problem+json here so clients see one error format.)

use crate::runtime::FunctionHost;
use crate::template::{RouteSpec, ACCOUNT_ID};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// API Gateway's request payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// The API id local events carry.
pub const LOCAL_API_ID: &str = "local";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `{name+}`: the rest of the path.
    Greedy(String),
}

/// One route of the template.
#[derive(Clone)]
pub struct Route {
    pub method: String,
    pub path: String,
    segments: Vec<Segment>,
    pub function: String,
}

impl Route {
    pub fn new(spec: &RouteSpec, function: &str) -> Route {
        let segments = spec
            .path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(p) => match p.strip_suffix('+') {
                        Some(g) => Segment::Greedy(g.to_string()),
                        None => Segment::Param(p.to_string()),
                    },
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        Route {
            method: spec.method.to_uppercase(),
            path: spec.path.clone(),
            segments,
            function: function.to_string(),
        }
    }

    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Path parameters (decoded) when the path matches.
    fn match_path(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let parts: Vec<&str> = if parts == [""] { vec![] } else { parts };
        let mut params = BTreeMap::new();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Greedy(name) => {
                    let rest = parts.get(i..).unwrap_or_default();
                    if rest.is_empty() || rest.iter().all(|p| p.is_empty()) {
                        return None;
                    }
                    params.insert(name.clone(), percent_decode(&rest.join("/"), false));
                    return Some(params);
                }
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let p = parts.get(i).filter(|p| !p.is_empty())?;
                    params.insert(name.clone(), percent_decode(p, false));
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }

    /// More specific routes first: more literal segments, then fewer greedy ones.
    fn rank(&self) -> (usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let greedy = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Greedy(_)))
            .count();
        (usize::MAX - literals, greedy)
    }
}

/// The routes, most specific first.
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(Route::rank);
        RouteTable { routes }
    }

    /// The route for a request and its path parameters.
    pub fn find(&self, method: &str, path: &str) -> Option<(&Route, BTreeMap<String, String>)> {
        self.routes.iter().find_map(|r| {
            if r.method != "ANY" && !r.method.eq_ignore_ascii_case(method) {
                return None;
            }
            r.match_path(path).map(|p| (r, p))
        })
    }
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` (and `+` as space when `plus_is_space`).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of an HTTP request an event is built from.
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: String,
    pub protocol: &'a str,
    pub request_id: String,
    pub time_epoch_ms: i64,
}

/// API Gateway's `requestContext.time`, e.g. `12/Mar/2020:19:03:58 +0000`.
fn clf_time(epoch_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day(),
        MONTHS[t.month() as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Builds the payload 2.0 event for a request that matched `route`.
pub fn build_event(
    route: &Route,
    params: &BTreeMap<String, String>,
    req: &RequestParts<'_>,
) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for name in req.headers.keys() {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if name.as_str() == "cookie" {
            // Payload 2.0 moves cookies out of the headers into `cookies`.
            for v in &values {
                cookies.extend(
                    v.split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(|c| Value::String(c.to_string())),
                );
            }
            continue;
        }
        headers.insert(name.as_str().to_string(), Value::String(values.join(",")));
    }
    let port = req
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| "80".to_string());
    headers
        .entry("x-forwarded-for")
        .or_insert_with(|| Value::String(req.source_ip.clone()));
    headers
        .entry("x-forwarded-port")
        .or_insert_with(|| Value::String(port));
    headers
        .entry("x-forwarded-proto")
        .or_insert_with(|| Value::String("http".into()));

    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in req.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query
            .entry(percent_decode(k, true))
            .or_default()
            .push(percent_decode(v, true));
    }

    let route_key = route.route_key();
    let domain = req
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let domain_prefix = domain.split('.').next().unwrap_or_default().to_string();
    let user_agent = req
        .headers
        .get("user-agent")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();

    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "http": {
                "method": req.method.to_uppercase(),
                "path": req.raw_path,
                "protocol": req.protocol,
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
            },
            "requestId": req.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": clf_time(req.time_epoch_ms),
            "timeEpoch": req.time_epoch_ms,
        },
        "isBase64Encoded": false,
    });
    let Some(obj) = event.as_object_mut() else {
        return event;
    };
    if !cookies.is_empty() {
        obj.insert("cookies".into(), Value::Array(cookies));
    }
    if !query.is_empty() {
        let q: Map<String, Value> = query
            .into_iter()
            .map(|(k, v)| (k, Value::String(v.join(","))))
            .collect();
        obj.insert("queryStringParameters".into(), Value::Object(q));
    }
    if !params.is_empty() {
        let p: Map<String, Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        obj.insert("pathParameters".into(), Value::Object(p));
    }
    if !req.body.is_empty() {
        match std::str::from_utf8(req.body) {
            Ok(text) => {
                obj.insert("body".into(), Value::String(text.to_string()));
            }
            Err(_) => {
                obj.insert(
                    "body".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(req.body)),
                );
                obj.insert("isBase64Encoded".into(), Value::Bool(true));
            }
        }
    }
    event
}

pub fn problem(status: StatusCode, title: &str) -> Response {
    let body = json!({"type": "about:blank", "title": title, "status": status.as_u16()});
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn value_to_header_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Maps a payload 2.0 function response to HTTP, as API Gateway does (including its
/// inference when the function returns something other than a response object).
pub fn map_response(v: &Value) -> Result<Response, String> {
    let Some(obj) = v.as_object().filter(|o| o.contains_key("statusCode")) else {
        let body = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Ok((
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    };
    let status = obj
        .get("statusCode")
        .and_then(|s| {
            s.as_u64()
                .or_else(|| s.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("statusCode is not a valid HTTP status")?;
    let mut builder = Response::builder().status(status);
    let headers = builder.headers_mut().ok_or("bad response")?;
    let mut add = |k: &str, v: &str| -> Result<(), String> {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
        let value = HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
        headers.append(name, value);
        Ok(())
    };
    if let Some(Value::Object(h)) = obj.get("headers") {
        for (k, v) in h {
            if let Some(v) = value_to_header_string(v) {
                add(k, &v)?;
            }
        }
    }
    if let Some(Value::Object(h)) = obj.get("multiValueHeaders") {
        for (k, vs) in h {
            for v in vs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(value_to_header_string)
            {
                add(k, &v)?;
            }
        }
    }
    if let Some(Value::Array(cs)) = obj.get("cookies") {
        for c in cs.iter().filter_map(Value::as_str) {
            add("set-cookie", c)?;
        }
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            if obj
                .get("isBase64Encoded")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| format!("body is not base64: {e}"))?
            } else {
                s.clone().into_bytes()
            }
        }
        Some(other) => other.to_string().into_bytes(),
    };
    builder.body(Body::from(body)).map_err(|e| e.to_string())
}

pub struct HttpApiState {
    pub routes: RouteTable,
    pub functions: BTreeMap<String, Arc<FunctionHost>>,
}

async fn handle(
    axum::extract::State(st): axum::extract::State<Arc<HttpApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let Some((route, params)) = st.routes.find(parts.method.as_str(), parts.uri.path()) else {
        return problem(StatusCode::NOT_FOUND, "Not Found");
    };
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return problem(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let protocol = match parts.version {
        axum::http::Version::HTTP_10 => "HTTP/1.0",
        axum::http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let event = build_event(
        route,
        &params,
        &RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            source_ip: peer.ip().to_string(),
            protocol,
            request_id: uuid::Uuid::now_v7().to_string(),
            time_epoch_ms: now_ms as i64,
        },
    );
    let Some(function) = st.functions.get(&route.function) else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    match function.invoke(event).await {
        Ok(v) => map_response(&v).unwrap_or_else(|e| {
            tracing::warn!(function = %route.function, error = %e, "malformed function response");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }),
        Err(e) => {
            tracing::warn!(function = %route.function, error = %e, "invocation failed");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

pub fn router(state: Arc<HttpApiState>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, f: &str) -> Route {
        Route::new(
            &RouteSpec {
                event_name: "E".into(),
                method: method.into(),
                path: path.into(),
            },
            f,
        )
    }

    #[test]
    fn matches_routes_most_specific_first() {
        let table = RouteTable::new(vec![
            route("GET", "/v1/posts/{id}", "get"),
            route("POST", "/v1/posts", "create"),
            route("POST", "/v1/posts/{id}/retry", "retry"),
            route("GET", "/v1/posts/latest", "latest"),
            route("GET", "/files/{path+}", "files"),
        ]);
        let (r, p) = table.find("POST", "/v1/posts").unwrap();
        assert_eq!((r.function.as_str(), p.len()), ("create", 0));
        let (r, p) = table.find("GET", "/v1/posts/abc%20d").unwrap();
        assert_eq!((r.function.as_str(), p["id"].as_str()), ("get", "abc d"));
        assert_eq!(
            table.find("GET", "/v1/posts/latest").unwrap().0.function,
            "latest"
        );
        assert_eq!(
            table.find("post", "/v1/posts/7/retry").unwrap().1["id"],
            "7"
        );
        assert_eq!(
            table.find("GET", "/files/a/b.txt").unwrap().1["path"],
            "a/b.txt"
        );
        assert!(table.find("DELETE", "/v1/posts").is_none());
        assert!(table.find("GET", "/v1/posts/").is_none());
        assert!(table.find("GET", "/v1/posts/1/2").is_none());
        assert!(table.find("GET", "/files/").is_none());
    }

    #[test]
    fn builds_v2_event() {
        let r = route("GET", "/v1/users/{user_id}/accounts", "f");
        let (_, params) = RouteTable::new(vec![r.clone()])
            .find("GET", "/v1/users/u%201/accounts")
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4000".parse().unwrap());
        headers.insert("user-agent", "test/1".parse().unwrap());
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", "b".parse().unwrap());
        headers.insert("cookie", "a=1; b=2".parse().unwrap());
        let event = build_event(
            &r,
            &params,
            &RequestParts {
                method: "GET",
                raw_path: "/v1/users/u%201/accounts",
                raw_query: "network=x&tag=a&tag=b%2Bc",
                headers: &headers,
                body: b"",
                source_ip: "127.0.0.1".into(),
                protocol: "HTTP/1.1",
                request_id: "req-1".into(),
                time_epoch_ms: 1_583_348_638_390,
            },
        );
        let expected = json!({
            "version": "2.0",
            "routeKey": "GET /v1/users/{user_id}/accounts",
            "rawPath": "/v1/users/u%201/accounts",
            "rawQueryString": "network=x&tag=a&tag=b%2Bc",
            "cookies": ["a=1", "b=2"],
            "headers": {
                "host": "127.0.0.1:4000",
                "user-agent": "test/1",
                "x-multi": "a,b",
                "x-forwarded-for": "127.0.0.1",
                "x-forwarded-port": "4000",
                "x-forwarded-proto": "http"
            },
            "queryStringParameters": {"network": "x", "tag": "a,b+c"},
            "pathParameters": {"user_id": "u 1"},
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": "local",
                "domainName": "127.0.0.1:4000",
                "domainPrefix": "127",
                "http": {
                    "method": "GET",
                    "path": "/v1/users/u%201/accounts",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "test/1"
                },
                "requestId": "req-1",
                "routeKey": "GET /v1/users/{user_id}/accounts",
                "stage": "$default",
                "time": "04/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1_583_348_638_390_i64
            },
            "isBase64Encoded": false
        });
        assert_eq!(event, expected);

        // The event deserializes as the lambda events crate's request type.
        let typed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(event).unwrap();
        assert_eq!(
            typed.route_key.as_deref(),
            Some("GET /v1/users/{user_id}/accounts")
        );
    }

    #[test]
    fn binary_body_is_base64() {
        let r = route("POST", "/v1/posts", "f");
        let headers = HeaderMap::new();
        let event = build_event(
            &r,
            &BTreeMap::new(),
            &RequestParts {
                method: "POST",
                raw_path: "/v1/posts",
                raw_query: "",
                headers: &headers,
                body: &[0xff, 0x00, 0x01],
                source_ip: "127.0.0.1".into(),
                protocol: "HTTP/1.1",
                request_id: "r".into(),
                time_epoch_ms: 0,
            },
        );
        assert_eq!(event["body"], "/wAB");
        assert_eq!(event["isBase64Encoded"], true);
        assert!(event.get("queryStringParameters").is_none());
        assert!(event.get("pathParameters").is_none());
    }

    #[tokio::test]
    async fn maps_function_responses() {
        let resp = map_response(&json!({
            "statusCode": 201,
            "headers": {"content-type": "text/plain"},
            "multiValueHeaders": {"x-a": ["1", "2"]},
            "cookies": ["s=1; Path=/"],
            "body": "aGk=",
            "isBase64Encoded": true
        }))
        .unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["content-type"], "text/plain");
        assert_eq!(resp.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(resp.headers()["set-cookie"], "s=1; Path=/");
        let body = axum::body::to_bytes(resp.into_body(), 100).await.unwrap();
        assert_eq!(&body[..], b"hi");

        let inferred = map_response(&json!({"ok": true})).unwrap();
        assert_eq!(inferred.status(), 200);
        assert_eq!(inferred.headers()["content-type"], "application/json");
        assert!(map_response(&json!({"statusCode": "nope"})).is_err());
    }
}
