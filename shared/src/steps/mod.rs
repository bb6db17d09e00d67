//! What each Lambda does, wired to AWS. The function crates only adapt
//! their events to these and build the clients once.

#[cfg(all(feature = "dynamodb", feature = "sfn", feature = "ecr"))]
pub mod image;
#[cfg(all(feature = "dynamodb", feature = "ec2"))]
pub mod network;
#[cfg(feature = "dynamodb")]
pub mod record;
#[cfg(all(feature = "dynamodb", feature = "sfn", feature = "secrets"))]
pub mod webhook;

/// Whether a resource's tags make it this environment's.
pub fn is_owned<'a>(
    tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    app: &str,
    environment: &str,
) -> bool {
    let mut app_ok = false;
    let mut env_ok = false;
    for (k, v) in tags {
        app_ok |= k == crate::TAG_APP && v == app;
        env_ok |= k == crate::TAG_ENVIRONMENT && v == environment;
    }
    app_ok && env_ok
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn ownership_needs_both_tags_to_match() {
        let tags = |a: &str, e: &str| -> BTreeMap<String, String> {
            [
                (crate::TAG_APP.to_string(), a.to_string()),
                (crate::TAG_ENVIRONMENT.to_string(), e.to_string()),
            ]
            .into()
        };
        assert!(super::is_owned(
            &tags("bank", "production"),
            "bank",
            "production"
        ));
        assert!(!super::is_owned(
            &tags("bank", "staging"),
            "bank",
            "production"
        ));
        assert!(!super::is_owned(
            &tags("shop", "production"),
            "bank",
            "production"
        ));
        assert!(!super::is_owned(&BTreeMap::new(), "bank", "production"));
    }
}
