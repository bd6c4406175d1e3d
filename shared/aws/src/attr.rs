//! Reading and writing DynamoDB attribute maps without repeating the match on each field.

use crate::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// The code DynamoDB gave for item `i` of a cancelled transaction
/// (`ConditionalCheckFailed`, `TransactionConflict`, …; `None` for an item that did not
/// fail), or `None` when it named none.
pub fn cancellation_code(
    cancelled: &aws_sdk_dynamodb::types::error::TransactionCanceledException,
    i: usize,
) -> Option<&str> {
    cancelled
        .cancellation_reasons()
        .get(i)
        .and_then(|r| r.code())
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Typed reads from one item, naming the item in every error.
pub struct Reader<'a> {
    item: &'a Item,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item) -> Self {
        Reader { item }
    }

    fn key(&self) -> String {
        let part = |k: &str| {
            self.item
                .get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        format!("{}/{}", part("pk"), part("sk"))
    }

    pub fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            key: self.key(),
            detail: detail.into(),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.corrupt(format!("`{name}` is not a string"))),
        }
    }

    /// A BOOL attribute; false when it is missing.
    pub fn flag(&self, name: &str) -> Result<bool, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(false),
            Some(AttributeValue::Bool(v)) => Ok(*v),
            Some(_) => Err(self.corrupt(format!("`{name}` is not a boolean"))),
        }
    }

    pub fn str(&self, name: &str) -> Result<String, StoreError> {
        self.opt_str(name)?
            .ok_or_else(|| self.corrupt(format!("`{name}` is missing")))
    }

    pub fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(format!("`{name}` is not a number of the right kind"))),
            Some(_) => Err(self.corrupt(format!("`{name}` is not a number"))),
        }
    }

    pub fn parsed<T>(&self, name: &str) -> Result<T, StoreError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.str(name)?
            .parse()
            .map_err(|e: T::Err| self.corrupt(format!("`{name}`: {e}")))
    }

    /// A list of numbers (absent: empty).
    pub fn num_list<T: std::str::FromStr>(&self, name: &str) -> Result<Vec<T>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
            Some(AttributeValue::L(items)) => items
                .iter()
                .map(|v| {
                    v.as_n()
                        .ok()
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| self.corrupt(format!("`{name}` holds a non-number")))
                })
                .collect(),
            Some(_) => Err(self.corrupt(format!("`{name}` is not a list"))),
        }
    }

    pub fn list(&self, name: &str) -> Result<Vec<Item>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
            Some(AttributeValue::L(items)) => items
                .iter()
                .map(|v| {
                    v.as_m()
                        .cloned()
                        .map_err(|_| self.corrupt(format!("`{name}` holds a non-map")))
                })
                .collect(),
            Some(_) => Err(self.corrupt(format!("`{name}` is not a list"))),
        }
    }
}

/// Every item under one partition key whose sort key starts with `prefix`, following
/// DynamoDB's pages (strongly consistent reads).
pub async fn query_prefix(
    client: &Client,
    table: &str,
    pk: String,
    prefix: &str,
) -> Result<Vec<Item>, StoreError> {
    query_pages(|| {
        client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
    })
    .await
}

/// Every item of a global secondary index whose partition key `attribute` is `value`,
/// following DynamoDB's pages (an index is read eventually consistent).
pub async fn query_index(
    client: &Client,
    table: &str,
    index: &str,
    attribute: &str,
    value: &str,
) -> Result<Vec<Item>, StoreError> {
    query_pages(|| {
        client
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("#key = :value")
            .expression_attribute_names("#key", attribute)
            .expression_attribute_values(":value", s(value))
    })
    .await
}

/// Runs a query page by page: `query` builds the request, each page starting where the
/// last one stopped.
async fn query_pages(
    query: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>, StoreError> {
    let mut found = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let out = query()
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        found.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok(found)
}

/// What a conditional UpdateItem's or PutItem's answer means: the write happened, or
/// its condition did not hold; anything else is a backend failure. One place for every
/// conditional write of both tables.
pub trait ConditionalUpdate {
    /// True when written, false when the condition did not hold.
    fn held(self) -> Result<bool, StoreError>;
    /// Written, or `StoreError::Conflict(what)` when the condition did not hold.
    fn or_conflict(self, what: &str) -> Result<(), StoreError>;
}

macro_rules! conditional_write {
    ($error:ty) => {
        impl<O> ConditionalUpdate for Result<O, aws_sdk_dynamodb::error::SdkError<$error>> {
            fn held(self) -> Result<bool, StoreError> {
                match self {
                    Ok(_) => Ok(true),
                    Err(e) => {
                        let e = e.into_service_error();
                        if e.is_conditional_check_failed_exception() {
                            Ok(false)
                        } else {
                            Err(crate::backend("dynamodb", e))
                        }
                    }
                }
            }

            fn or_conflict(self, what: &str) -> Result<(), StoreError> {
                if self.held()? {
                    Ok(())
                } else {
                    Err(StoreError::Conflict(what.to_owned()))
                }
            }
        }
    };
}

conditional_write!(aws_sdk_dynamodb::operation::update_item::UpdateItemError);
conditional_write!(aws_sdk_dynamodb::operation::put_item::PutItemError);
