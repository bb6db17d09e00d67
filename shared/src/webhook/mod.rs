//! Webhooks: GitHub's (signature verification, parsing and routing) and
//! Docker Hub's (a secret path token). Pure: the secrets and the app specs
//! come in as arguments. One module per concern: [`http`] (the request as
//! received and the answer), [`auth`] (who may call), [`route`] (what a
//! delivery means).

pub mod auth;
pub mod http;
pub mod route;

pub use auth::*;
pub use http::*;
pub use route::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::AppSpec;
    use base64::Engine;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    #[test]
    fn githubs_documented_vector() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(secret, body), want);
        assert!(verify_signature(secret, body, Some(want)));
    }

    #[test]
    fn signature_refusals() {
        let secret = b"s3cret";
        let body = "{\"zen\":\"Non-blocking is better than blocking. ✓\"}".as_bytes();
        let good = sign(secret, body);
        assert!(verify_signature(secret, body, Some(&good)));
        assert!(verify_signature(secret, b"", Some(&sign(secret, b""))));
        let sha1 = format!("sha1={}", &good[7..47]);
        for bad in [
            None,
            Some(""),
            Some("sha256="),
            Some("sha256=zz"),
            Some(&good[..good.len() - 2]),
            Some(&sha1),
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ] {
            assert!(!verify_signature(secret, body, bad), "{bad:?}");
        }
        assert!(!verify_signature(b"other", body, Some(&good)));
    }

    #[test]
    fn header_names_are_case_insensitive_and_base64_decoded() {
        let body = base64::engine::general_purpose::STANDARD.encode(b"{}");
        let req = RawRequest::from_parts([("X-GitHub-Event", "ping")], Some(&body), true).unwrap();
        assert_eq!(req.header("x-github-event"), Some("ping"));
        assert_eq!(req.body, b"{}");
        assert!(RawRequest::from_parts([], Some("%%%"), true).is_err());
    }

    #[test]
    fn docker_hub_hook_tokens() {
        let secrets = vec![b"current-token".to_vec(), b"previous-token".to_vec()];
        assert!(authenticate_docker_hub(Some("current-token"), &secrets).is_ok());
        assert!(authenticate_docker_hub(Some("previous-token"), &secrets).is_ok());
        for bad in [Some("current-token\0"), Some("current"), Some(""), None] {
            assert_eq!(
                authenticate_docker_hub(bad, &secrets).unwrap_err().status,
                401,
                "{bad:?}"
            );
        }
        assert!(!token_matches("", &[Vec::new()]));
    }

    #[test]
    fn docker_hub_bodies() {
        let req = |body: &str| RawRequest {
            body: body.as_bytes().to_vec(),
            ..RawRequest::default()
        };
        let ok = req(r#"{"push_data": {"tag": "abc"}, "repository": {"repo_name": "acme/bank"}}"#);
        assert_eq!(
            docker_hub_image(&ok).unwrap().unwrap().wait_key(),
            "docker.io/acme/bank:abc"
        );
        let not_json = docker_hub_image(&req("{\"push_data\":")).unwrap_err();
        assert_eq!(not_json.status, 400);
        assert!(not_json.body["error"]
            .as_str()
            .unwrap()
            .contains("not JSON"));
        let github = docker_hub_image(&req(r#"{"ref": "refs/heads/main"}"#)).unwrap_err();
        assert!(github.body["error"]
            .as_str()
            .unwrap()
            .contains("Docker Hub webhook"));
    }

    #[test]
    fn form_encoded_payloads() {
        let req = RawRequest {
            headers: [(
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            )]
            .into(),
            body: b"payload=%7B%22zen%22%3A%22a+b%22%7D".to_vec(),
        };
        assert_eq!(payload(&req).unwrap(), json!({"zen": "a b"}));
        let req = RawRequest {
            body: b"nope=1".to_vec(),
            ..req
        };
        assert_eq!(payload(&req).unwrap_err().status, 400);
    }

    fn apps() -> Vec<AppSpec> {
        vec![AppSpec::from_json(
            r#"{"name":"bank","repository":"acme/flask-banking","previews":{"enabled":true}}"#,
        )
        .unwrap()]
    }

    fn push(r: &str, deleted: bool) -> Value {
        json!({
            "ref": r, "after": "0123456789abcdef0123456789abcdef01234567", "deleted": deleted,
            "repository": {"full_name": "acme/flask-banking", "pushed_at": 1795624484u64},
            "pusher": {"name": "octocat"}
        })
    }

    #[test]
    fn push_routing() {
        match decide(
            "push",
            "d1",
            push("refs/heads/main", false),
            &Known::registered(apps()),
            0,
        ) {
            Decision::Deploy {
                deployment_id,
                request,
            } => {
                assert!(deployment_id.starts_with("20261125T163444Z-bank-production-0123456-"));
                assert_eq!(request.environment, "production");
                assert_eq!(request.trigger.unwrap().pusher.as_deref(), Some("octocat"));
            }
            other => panic!("{other:?}"),
        }
        match decide(
            "push",
            "d1",
            push("refs/heads/feature/x", false),
            &Known::registered(apps()),
            0,
        ) {
            Decision::Deploy { request, .. } => {
                assert_eq!(request.environment, "pr-feature-217d2")
            }
            other => panic!("{other:?}"),
        }
        for (payload, why) in [
            (push("refs/tags/v1", false), "is not a branch"),
            (push("refs/heads/main", true), "was deleted"),
        ] {
            match decide("push", "d1", payload, &Known::registered(apps()), 0) {
                Decision::Reply(r) => {
                    assert_eq!(r.status, 200);
                    assert!(r.body["ignored"].as_str().unwrap().contains(why));
                }
                other => panic!("{other:?}"),
            }
        }
        let mut other_repo = push("refs/heads/main", false);
        other_repo["repository"]["full_name"] = json!("evil/repo");
        assert_eq!(
            decide("push", "d1", other_repo, &Known::registered(apps()), 0),
            Decision::Reply(Reply::ignored("repository not configured"))
        );
        match decide(
            "push",
            "d1",
            json!({"ref": 1}),
            &Known::registered(apps()),
            0,
        ) {
            Decision::Reply(r) => assert_eq!(r.status, 400),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pull_requests_deploy_their_preview_and_tear_it_down_when_closed() {
        let pr = |action: &str, head_ref: &str, head_repo: Value, merged: bool| {
            json!({
                "action": action, "number": 7,
                "pull_request": {"merged": merged, "head": {"ref": head_ref,
                    "sha": "0123456789abcdef0123456789abcdef01234567", "repo": head_repo}},
                "repository": {"full_name": "acme/flask-banking"},
                "sender": {"login": "octocat"}
            })
        };
        let own = json!({"full_name": "acme/flask-banking"});
        let known = Known::registered(apps());
        for action in ["opened", "reopened"] {
            match decide(
                "pull_request",
                "d1",
                pr(action, "feature/x", own.clone(), false),
                &known,
                0,
            ) {
                Decision::Deploy { request, .. } => {
                    assert_eq!(request.environment, "pr-feature-217d2");
                    assert_eq!(request.branch.as_deref(), Some("feature/x"));
                    let t = request.trigger.unwrap();
                    assert_eq!((t.kind.as_str(), t.pull_request), ("pull_request", Some(7)));
                    assert_eq!(t.repository.as_deref(), Some("acme/flask-banking"));
                }
                other => panic!("{other:?}"),
            }
        }
        for (merged, why) in [
            (false, "pull-request-closed"),
            (true, "pull-request-merged"),
        ] {
            assert_eq!(
                decide(
                    "pull_request",
                    "d",
                    pr("closed", "feature/x", own.clone(), merged),
                    &known,
                    0
                ),
                Decision::Teardown {
                    app: "bank".into(),
                    environment: "pr-feature-217d2".into(),
                    trigger: why,
                }
            );
        }
        for (payload, why) in [
            (
                pr(
                    "opened",
                    "feature/x",
                    json!({"full_name": "evil/flask-banking"}),
                    false,
                ),
                "from a fork",
            ),
            (pr("opened", "feature/x", Value::Null, false), "from a fork"),
            (
                pr("synchronize", "feature/x", own.clone(), false),
                "the push to feature/x deploys",
            ),
            (
                pr("labeled", "feature/x", own.clone(), false),
                "nothing to deploy",
            ),
            (
                pr("opened", "main", own.clone(), false),
                "feeds production, not a preview",
            ),
            (
                pr("closed", "main", own.clone(), true),
                "feeds production, which is not a preview",
            ),
        ] {
            match decide("pull_request", "d", payload, &known, 0) {
                Decision::Reply(r) => assert!(
                    r.body["ignored"].as_str().unwrap().contains(why),
                    "{why}: {r:?}"
                ),
                other => panic!("{why}: {other:?}"),
            }
        }
        match decide("pull_request", "d", json!({"action": "opened"}), &known, 0) {
            Decision::Reply(r) => assert_eq!(r.status, 400),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deletes_tear_down_previews_only() {
        let del = |r: &str| json!({"ref": r, "ref_type": "branch", "repository": {"full_name": "acme/flask-banking"}});
        assert_eq!(
            decide(
                "delete",
                "d",
                del("feature/x"),
                &Known::registered(apps()),
                0
            ),
            Decision::Teardown {
                app: "bank".into(),
                environment: "pr-feature-217d2".into(),
                trigger: "branch-deleted",
            }
        );
        match decide("delete", "d", del("main"), &Known::registered(apps()), 0) {
            Decision::Reply(r) => assert!(r.body["ignored"]
                .as_str()
                .unwrap()
                .contains("not a preview")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_events_are_ignored() {
        match decide("issues", "d", json!({}), &Known::registered(apps()), 0) {
            Decision::Reply(r) => assert_eq!(r.status, 200),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn any_request_is_answered_without_panic_or_5xx(
            headers in proptest::collection::vec(("[A-Za-z-]{1,20}", "\\PC{0,40}"), 0..6),
            body in proptest::collection::vec(any::<u8>(), 0..400),
            event in prop_oneof![Just("push".to_string()), Just("ping".to_string()), Just("delete".to_string()), "[a-z_]{0,12}"],
            b64 in any::<bool>(),
        ) {
            let text = String::from_utf8_lossy(&body).to_string();
            let mut hs: Vec<(String, String)> = headers;
            hs.push(("X-GitHub-Event".into(), event.clone()));
            let req = RawRequest::from_parts(hs.iter().map(|(k, v)| (k.as_str(), v.as_str())), Some(&text), b64);
            let req = match req { Ok(r) => r, Err(r) => { prop_assert!(r.status < 500); return Ok(()); } };
            if let Err(r) = precheck(&req) { prop_assert!(r.status < 500); }
            if let Err(r) = authenticate(&req, &[b"k".to_vec()]) { prop_assert_eq!(r.status, 401); }
            match payload(&req) {
                Err(r) => prop_assert_eq!(r.status, 400),
                Ok(p) => if let Decision::Reply(r) = decide(&event, "d", p, &Known::registered(apps()), 0) { prop_assert!(r.status < 500); },
            }
        }
    }
}
