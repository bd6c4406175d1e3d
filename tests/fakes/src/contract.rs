//! A network's OpenAPI 3.0 description as a contract: checks one request a fake
//! received, and the answer it gave, against the operation the description holds for
//! that method and path, and names every way they break it.
//!
//! The schemas are checked by the `jsonschema` crate (JSON Schema draft 4, which
//! OpenAPI 3.0's schema objects extend); the whole description is registered as one
//! resource, so `#/components/...` references resolve inside it, and `nullable: true`
//! is rewritten as a `null` type when the description is loaded. What is checked:
//!
//! - request: the path and query parameters (unknown query names, missing required
//!   ones, each value against its schema after reading it as the schema's type), the
//!   body's media type against those the operation lists, and a JSON,
//!   `multipart/form-data` or form body against its schema;
//! - answer: the status against those the operation documents (or `default`), the
//!   media type against that response's content, and the body against its schema.
//!
//! Paths the description does not hold (an OAuth endpoint outside the API) are not
//! checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonschema::{Draft, Registry, Validator};
use serde_json::{Map, Value};

use crate::server::lock;

/// The base URI under which the description is registered.
const BASE: &str = "urn:crosspost:contract";

/// One parsed request, as the contract reads it.
pub struct ContractRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// The Content-Type header, if any.
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// One answer, as the contract reads it.
pub struct ContractAnswer<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub body: &'a Value,
}

/// An OpenAPI 3.0 description, ready to check requests and answers.
pub struct Contract {
    name: &'static str,
    spec: Arc<Value>,
    registry: Registry<'static>,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// An operation: its method, path template and where it sits in the description.
struct Operation {
    method: String,
    template: Vec<String>,
    /// JSON pointer of the operation object.
    pointer: String,
    /// JSON pointer of its path item (for path-level parameters).
    item_pointer: String,
}

/// What a request names in the description.
struct Matched<'c> {
    operation: &'c Operation,
    path_params: Vec<(String, String)>,
}

impl Contract {
    /// Loads a description (`name` prefixes every violation, e.g. `X API`).
    ///
    /// # Errors
    ///
    /// When the text is not JSON or its schemas cannot be registered.
    pub fn load(name: &'static str, text: &str) -> Result<Contract, String> {
        let mut spec: Value =
            serde_json::from_str(text).map_err(|e| format!("{name}: not JSON: {e}"))?;
        nullable_to_type(&mut spec);
        let registry = Registry::new()
            .draft(Draft::Draft4)
            .add(BASE, spec.clone())
            .and_then(|builder| builder.prepare())
            .map_err(|e| format!("{name}: the schemas cannot be registered: {e}"))?;
        let mut operations = Vec::new();
        for (path, item) in spec
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let item_pointer = format!("/paths/{}", escape(path));
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: segments(path),
                        pointer: format!("{item_pointer}/{method}"),
                        item_pointer: item_pointer.clone(),
                    });
                }
            }
        }
        Ok(Contract {
            name,
            spec: Arc::new(spec),
            registry,
            operations,
            validators: Mutex::default(),
        })
    }

    /// Whether the description holds an operation for this method and path.
    pub fn describes(&self, method: &str, path: &str) -> bool {
        self.operation(method, path).is_some()
    }

    /// The operation the description holds for this method and path, as
    /// `METHOD /template` (e.g. `DELETE /2/tweets/{id}`).
    pub fn operation_name(&self, method: &str, path: &str) -> Option<String> {
        self.operation(method, path)
            .map(|m| format!("{} /{}", m.operation.method, m.operation.template.join("/")))
    }

    /// Every way `request` breaks the description (empty when it keeps it, or when the
    /// description does not hold its path).
    pub fn check_request(&self, request: &ContractRequest<'_>) -> Vec<String> {
        let Some(matched) = self.operation(request.method, request.path) else {
            return Vec::new();
        };
        let at = format!("{}: {} {}", self.name, request.method, request.path);
        let mut violations = Vec::new();
        self.check_parameters(&matched, request, &at, &mut violations);
        self.check_request_body(matched.operation, request, &at, &mut violations);
        violations
    }

    /// Every way `answer`, given to `method path`, breaks the description.
    pub fn check_answer(
        &self,
        method: &str,
        path: &str,
        answer: &ContractAnswer<'_>,
    ) -> Vec<String> {
        let Some(matched) = self.operation(method, path) else {
            return Vec::new();
        };
        let at = format!("{}: {method} {path} answered {}", self.name, answer.status);
        let op = &matched.operation.pointer;
        let responses = format!("{op}/responses");
        let status = answer.status.to_string();
        let response = [status.as_str(), "default"]
            .into_iter()
            .map(|key| format!("{responses}/{key}"))
            .find(|pointer| self.spec.pointer(pointer).is_some());
        let Some(response) = response else {
            return vec![format!("{at}: the status is not documented")];
        };
        let response = self.follow(&response);
        let Some(content) = self.spec.pointer(&format!("{response}/content")) else {
            return Vec::new();
        };
        let essence = media_type(answer.content_type);
        if content.get(&essence).is_none() {
            let listed: Vec<&String> = content
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            return vec![format!(
                "{at}: content type `{essence}` is not one of {listed:?}"
            )];
        }
        let schema = format!("{response}/content/{}/schema", escape(&essence));
        let mut violations = Vec::new();
        self.validate(
            &schema,
            answer.body,
            &format!("{at}: body"),
            &mut violations,
        );
        violations
    }

    fn operation(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let given = segments(path);
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method) && op.template.len() == given.len())
            .filter_map(|op| {
                let mut params = Vec::new();
                for (t, g) in op.template.iter().zip(&given) {
                    match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                        Some(name) => params.push((name.to_owned(), g.clone())),
                        None if t == g => {}
                        None => return None,
                    }
                }
                Some(Matched {
                    operation: op,
                    path_params: params,
                })
            })
            // A literal segment beats a parameter: `/2/users/me` over `/2/users/{id}`.
            .min_by_key(|m| m.path_params.len())
    }

    /// The operation's parameters (path-item level ones first, overridden by the
    /// operation's), as pointers to their (dereferenced) objects.
    fn parameters(&self, operation: &Operation) -> Vec<String> {
        let mut by_key: Vec<((String, String), String)> = Vec::new();
        for owner in [&operation.item_pointer, &operation.pointer] {
            let list = format!("{owner}/parameters");
            let count = self
                .spec
                .pointer(&list)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for i in 0..count {
                let pointer = self.follow(&format!("{list}/{i}"));
                let Some(param) = self.spec.pointer(&pointer) else {
                    continue;
                };
                let key = (
                    param["name"].as_str().unwrap_or_default().to_owned(),
                    param["in"].as_str().unwrap_or_default().to_owned(),
                );
                by_key.retain(|(k, _)| *k != key);
                by_key.push((key, pointer));
            }
        }
        by_key.into_iter().map(|(_, pointer)| pointer).collect()
    }

    fn check_parameters(
        &self,
        matched: &Matched<'_>,
        request: &ContractRequest<'_>,
        at: &str,
        violations: &mut Vec<String>,
    ) {
        let parameters = self.parameters(matched.operation);
        let mut known_query = Vec::new();
        for pointer in &parameters {
            let param = self.node(pointer);
            let name = param["name"].as_str().unwrap_or_default();
            let location = param["in"].as_str().unwrap_or_default();
            let values: Vec<&String> = match location {
                "path" => matched
                    .path_params
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .collect(),
                "query" => {
                    known_query.push(name);
                    request
                        .query
                        .iter()
                        .filter(|(n, _)| n == name)
                        .map(|(_, v)| v)
                        .collect()
                }
                _ => continue, // headers and cookies are the client's business
            };
            let required = param["required"].as_bool().unwrap_or(location == "path");
            if values.is_empty() {
                if required {
                    violations.push(format!(
                        "{at}: the required {location} parameter `{name}` is missing"
                    ));
                }
                continue;
            }
            if values.len() > 1 {
                violations.push(format!(
                    "{at}: the {location} parameter `{name}` is given {} times",
                    values.len()
                ));
            }
            let schema = format!("{pointer}/schema");
            let value = self.typed(&schema, values[0]);
            self.validate(
                &schema,
                &value,
                &format!("{at}: {location} parameter `{name}`"),
                violations,
            );
        }
        for (name, _) in request.query {
            if !known_query.contains(&name.as_str()) {
                violations.push(format!(
                    "{at}: the query parameter `{name}` is not in the description"
                ));
            }
        }
    }

    fn check_request_body(
        &self,
        operation: &Operation,
        request: &ContractRequest<'_>,
        at: &str,
        violations: &mut Vec<String>,
    ) {
        let body_pointer = format!("{}/requestBody", operation.pointer);
        if self.spec.pointer(&body_pointer).is_none() {
            if !request.body.is_empty() {
                violations.push(format!(
                    "{at}: the operation takes no body, yet one was sent"
                ));
            }
            return;
        }
        let body_pointer = self.follow(&body_pointer);
        let required = self.node(&body_pointer)["required"]
            .as_bool()
            .unwrap_or(false);
        if request.body.is_empty() && request.content_type.is_none() {
            if required {
                violations.push(format!("{at}: the required body is missing"));
            }
            return;
        }
        let essence = media_type(request.content_type.unwrap_or(""));
        let schema = format!("{body_pointer}/content/{}/schema", escape(&essence));
        if self.spec.pointer(&schema).is_none() {
            let listed: Vec<String> = self
                .node(&format!("{body_pointer}/content"))
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            violations.push(format!(
                "{at}: body content type `{essence}` is not one of {listed:?}"
            ));
            return;
        }
        let body = match essence.as_str() {
            "application/json" => match serde_json::from_slice::<Value>(request.body) {
                Ok(body) => body,
                Err(e) => {
                    violations.push(format!("{at}: the body is not JSON: {e}"));
                    return;
                }
            },
            "multipart/form-data" => {
                match multipart_fields(request.content_type.unwrap_or(""), request.body) {
                    Ok(fields) => self.fields_object(&schema, fields),
                    Err(why) => {
                        violations.push(format!("{at}: {why}"));
                        return;
                    }
                }
            }
            "application/x-www-form-urlencoded" => {
                let fields = form_urlencoded::parse(request.body).into_owned().collect();
                self.fields_object(&schema, fields)
            }
            other => {
                violations.push(format!("{at}: a `{other}` body cannot be checked"));
                return;
            }
        };
        self.validate(&schema, &body, &format!("{at}: body"), violations);
    }

    /// Form fields as the object the schema describes, each read as its property's type.
    fn fields_object(&self, schema: &str, fields: Vec<(String, String)>) -> Value {
        let schema = self.follow(schema);
        let mut object = Map::new();
        for (name, value) in fields {
            let property = format!("{schema}/properties/{}", escape(&name));
            let typed = if self.spec.pointer(&property).is_some() {
                self.typed(&property, &value)
            } else {
                Value::String(value)
            };
            object.insert(name, typed);
        }
        Value::Object(object)
    }

    /// A text value read as the type its schema names (a number, a boolean, a
    /// comma-separated array, or a string); left a string when it does not read as that
    /// type, so the schema names the mismatch.
    fn typed(&self, schema: &str, text: &str) -> Value {
        let schema = self.follow(schema);
        let node = self.node(&schema);
        let kind = match &node["type"] {
            Value::String(kind) => kind.as_str(),
            Value::Array(kinds) => kinds
                .iter()
                .filter_map(Value::as_str)
                .find(|k| *k != "null")
                .unwrap_or("string"),
            _ => "string",
        };
        let string = || Value::String(text.to_owned());
        match kind {
            "integer" => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| string()),
            "number" => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(string),
            "boolean" => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => string(),
            },
            "array" => {
                let items = format!("{schema}/items");
                Value::Array(
                    text.split(',')
                        .map(|item| self.typed(&items, item))
                        .collect(),
                )
            }
            _ => string(),
        }
    }

    /// The node at a JSON pointer (null when absent).
    fn node(&self, pointer: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.spec.pointer(pointer).unwrap_or(&NULL)
    }

    /// Follows `$ref`s from `pointer` to the object they name.
    fn follow(&self, pointer: &str) -> String {
        let mut pointer = pointer.to_owned();
        for _ in 0..16 {
            match self
                .spec
                .pointer(&pointer)
                .and_then(|v| v.get("$ref"))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
            {
                Some(target) => pointer = target.to_owned(),
                None => break,
            }
        }
        pointer
    }

    fn validate(&self, schema: &str, instance: &Value, at: &str, violations: &mut Vec<String>) {
        let validator = match self.validator(schema) {
            Ok(validator) => validator,
            Err(why) => {
                violations.push(format!("{at}: {why}"));
                return;
            }
        };
        for error in validator.iter_errors(instance) {
            violations.push(format!(
                "{at}: {}: {error}",
                pointer_or_root(&error.instance_path().to_string())
            ));
        }
    }

    fn validator(&self, schema: &str) -> Result<Arc<Validator>, String> {
        if let Some(validator) = lock(&self.validators).get(schema) {
            return Ok(validator.clone());
        }
        let reference = serde_json::json!({ "$ref": format!("{BASE}#{}", fragment(schema)) });
        let validator = jsonschema::options()
            .with_draft(Draft::Draft4)
            .with_registry(&self.registry)
            .build(&reference)
            .map(Arc::new)
            .map_err(|e| format!("the schema at {schema} cannot be built: {e}"))?;
        lock(&self.validators).insert(schema.to_owned(), validator.clone());
        Ok(validator)
    }
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() {
        "/"
    } else {
        pointer
    }
}

/// A JSON pointer as a URI fragment: characters a fragment may not hold (RFC 3986:
/// `{`, `}`, `%`, space, …) percent-encoded.
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for byte in pointer.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&byte);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A JSON pointer token for `text` (RFC 6901).
fn escape(text: &str) -> String {
    text.replace('~', "~0").replace('/', "~1")
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// A Content-Type's media type, lower-cased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema's `null` type, everywhere.
fn nullable_to_type(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(kind)) = object.get("type").cloned() {
                    object.insert("type".into(), serde_json::json!([kind, "null"]));
                }
            }
            object.values_mut().for_each(nullable_to_type);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_type),
        _ => {}
    }
}

/// The fields of a `multipart/form-data` body (RFC 7578), each value lossily as text.
fn multipart_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    crate::server::multipart(content_type, body).map(|parts| {
        parts
            .into_iter()
            .map(|p| (p.name, String::from_utf8_lossy(&p.data).into_owned()))
            .collect()
    })
}
