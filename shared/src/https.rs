//! The HTTPS connector of the APIs that are not AWS (container registries,
//! GitHub): the TLS stack the SDKs already build (rustls on aws-lc-rs), with
//! the system's roots, and plain HTTP for the local stack's fakes.

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

pub fn connector() -> Result<HttpsConnector<HttpConnector>, String> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| format!("no TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build())
}
