//! Who may call the webhooks: GitHub's `X-Hub-Signature-256` (HMAC-SHA256,
//! constant time, any of the secrets valid during a rotation) and Docker
//! Hub's secret path token.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::http::{RawRequest, Reply};

/// The `sha256=<hex>` signature GitHub sends for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (`X-Hub-Signature-256`) is the signature of `body` under
/// `secret`, compared in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    if sig.len() != 32 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Whether any of `secrets` signed the request (two are valid during a rotation).
pub fn authenticate(req: &RawRequest, secrets: &[Vec<u8>]) -> Result<(), Reply> {
    let header = req.header("x-hub-signature-256");
    if secrets
        .iter()
        .any(|s| verify_signature(s, &req.body, header))
    {
        Ok(())
    } else {
        Err(Reply::error(
            401,
            "signature missing or wrong: set the webhook's secret to the deployer's and use content type application/json",
        ))
    }
}

/// Whether `given` is one of `secrets`, compared in constant time (over their
/// SHA-256 hashes, so neither content nor length leaks through timing).
pub fn token_matches(given: &str, secrets: &[Vec<u8>]) -> bool {
    use sha2::Digest;
    let g = Sha256::digest(given.as_bytes());
    secrets.iter().fold(false, |found, s| {
        let h = Sha256::digest(s);
        let diff = g
            .iter()
            .zip(h.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        found | (diff == 0 && !s.is_empty())
    })
}

/// A Docker Hub hook request: Docker Hub signs nothing, so the request is
/// accepted only on the secret token at the end of its URL path.
pub fn authenticate_docker_hub(token: Option<&str>, secrets: &[Vec<u8>]) -> Result<(), Reply> {
    match token {
        Some(t) if token_matches(t, secrets) => Ok(()),
        _ => Err(Reply::error(
            401,
            "unknown hook token: the Docker Hub webhook URL must end in /dockerhub/<token>, the token being the value of the deployer's DockerHubHookTokenArn secret",
        )),
    }
}
