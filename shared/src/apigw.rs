//! API Gateway HTTP API (payload 2.0) requests in, JSON responses out: the
//! shape of the webhook routes (`/webhook`, `/dockerhub/{token}`) and of
//! `cargo lambda watch`'s `/lambda-url/<function>/…` requests.

pub use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};

use crate::webhook::{RawRequest, Reply};

/// A reply as an HTTP API response with a JSON body.
pub fn respond(reply: Reply) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut resp = ApiGatewayV2httpResponse::default();
    resp.status_code = i64::from(reply.status);
    resp.headers = headers;
    resp.body = Some(Body::Text(reply.body.to_string()));
    resp
}

/// The request's headers and raw body (base64-decoded when API Gateway encoded it).
pub fn raw_request(event: &ApiGatewayV2httpRequest) -> Result<RawRequest, Reply> {
    let headers = event
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    RawRequest::from_parts(headers, event.body.as_deref(), event.is_base64_encoded)
}

/// A path parameter, or else the path segment after `/<prefix>/` (function
/// URLs and `cargo lambda watch` carry no route parameters).
pub fn path_segment_after(
    event: &ApiGatewayV2httpRequest,
    param: &str,
    prefix: &str,
) -> Option<String> {
    if let Some(v) = event.path_parameters.get(param).filter(|v| !v.is_empty()) {
        return Some(v.clone());
    }
    let path = event
        .raw_path
        .as_deref()
        .or(event.request_context.http.path.as_deref())?;
    let marker = format!("/{prefix}/");
    let start = path.find(&marker)? + marker.len();
    let segment = path[start..].split('/').next()?;
    (!segment.is_empty()).then(|| segment.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> ApiGatewayV2httpRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn path_tokens() {
        let base = serde_json::json!({"version": "2.0", "rawPath": "/lambda-url/image-ready/dockerhub/tok3n",
            "requestContext": {"http": {"method": "POST", "path": "/x"}}});
        assert_eq!(
            path_segment_after(&event(base.clone()), "token", "dockerhub").as_deref(),
            Some("tok3n")
        );
        let mut with_param = base.clone();
        with_param["pathParameters"] = serde_json::json!({"token": "fromroute"});
        assert_eq!(
            path_segment_after(&event(with_param), "token", "dockerhub").as_deref(),
            Some("fromroute")
        );
        let mut bare = base.clone();
        bare["rawPath"] = "/dockerhub/".into();
        assert_eq!(path_segment_after(&event(bare), "token", "dockerhub"), None);
        let mut other = base;
        other["rawPath"] = "/webhook".into();
        assert_eq!(
            path_segment_after(&event(other), "token", "dockerhub"),
            None
        );
    }

    #[test]
    fn responses_are_json() {
        let resp = respond(Reply::error(401, "no"));
        assert_eq!(resp.status_code, 401);
        assert_eq!(resp.headers["content-type"], "application/json");
    }
}
