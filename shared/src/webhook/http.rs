//! HTTP plumbing of the webhooks: the request as received (headers, a body
//! that may be base64 or form-encoded), its size limit, the answer.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

/// GitHub never sends more than 25 MB; a deploy trigger never needs more than this.
pub const MAX_BODY: usize = 1024 * 1024;

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Reply {
        Reply { status, body }
    }
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::new(status, json!({ "error": message.into() }))
    }
    pub fn ignored(reason: impl Into<String>) -> Reply {
        Reply::new(200, json!({ "ignored": reason.into() }))
    }
}

/// A webhook request as received: headers with lower-case names, the raw body bytes.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Build from API Gateway's parts, decoding a base64 body.
    pub fn from_parts<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: Option<&str>,
        is_base64: bool,
    ) -> Result<RawRequest, Reply> {
        let headers = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        let body = body.unwrap_or_default();
        let body = if is_base64 {
            base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .map_err(|_| Reply::error(400, "body is marked base64 but does not decode"))?
        } else {
            body.as_bytes().to_vec()
        };
        Ok(RawRequest { headers, body })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Bodies over `MAX_BODY` are refused unread.
pub(super) fn within_size(req: &RawRequest) -> Result<(), Reply> {
    if req.body.len() > MAX_BODY {
        return Err(Reply::error(413, format!("body is over {MAX_BODY} bytes")));
    }
    Ok(())
}

/// Checks that come before the secret is even read: size, event header.
pub fn precheck(req: &RawRequest) -> Result<&str, Reply> {
    within_size(req)?;
    match req.header("x-github-event") {
        Some(e) if !e.trim().is_empty() => Ok(e.trim()),
        _ => Err(Reply::error(
            400,
            "missing X-GitHub-Event header: this endpoint takes GitHub webhook deliveries",
        )),
    }
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// The JSON payload, from either of GitHub's content types.
pub fn payload(req: &RawRequest) -> Result<Value, Reply> {
    let form = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let json_bytes = if form {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| Reply::error(400, "form body is not UTF-8"))?;
        let field = text
            .split('&')
            .find_map(|kv| kv.strip_prefix("payload="))
            .ok_or_else(|| Reply::error(400, "form body has no payload= field"))?;
        percent_decode(field)
            .ok_or_else(|| Reply::error(400, "payload= field is not URL-encoded"))?
    } else {
        req.body.clone()
    };
    let value: Value = serde_json::from_slice(&json_bytes)
        .map_err(|e| Reply::error(400, format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Reply::error(400, "body is JSON but not an object"));
    }
    Ok(value)
}
