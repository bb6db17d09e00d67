//! stepdeploy's library: everything the Lambdas in `functions/` share.
//!
//! Pure modules (no AWS, no Lambda runtime): [`error`], [`spec`], [`naming`],
//! [`deploy`], [`webhook`], [`image`], [`ledger`], [`network`], [`registry`]
//! (its HTTP client behind the `registry` feature).
//! AWS calls live under [`aws`], one module per service, each behind a cargo
//! feature so a function links only the SDKs it calls.
//! [`runtime`] is the thin glue every `functions/*/main.rs` uses.

#[cfg(feature = "http-api")]
pub mod apigw;
pub mod aws;
pub mod deploy;
pub mod error;
pub mod image;
pub mod ledger;
pub mod naming;
pub mod network;
pub mod owner;
pub mod plan;
pub mod registry;
pub mod resources;
pub mod runtime;
pub mod spec;
pub mod steps;
pub mod taskdef;
pub mod teardown;
pub mod webhook;

pub use error::{ErrorKind, StepError};
