"""Real HTTP deliveries to the webhook URL, as GitHub sends them."""

import json
import threading
import urllib.parse

from conftest import ROOT, new_commit


def sample(name):
    event = json.loads((ROOT / "events" / f"webhook.{name}.json").read_text())
    return event["headers"], event["body"].encode()


def post_raw(local, headers, body, sign=True, secret=None):
    import local_stack as stk
    if sign:
        return stk.post_webhook(local.env, headers, body, secret)
    import urllib.request
    import urllib.error
    req = urllib.request.Request(local.env["STEPDEPLOY_WEBHOOK_URL"], data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_ping_answers_with_the_hook_and_the_events_acted_on(local):
    headers, body = sample("ping")
    status, reply = local.post("ping", body)
    assert status == 200
    assert reply["hook_id"] == 481516234
    assert set(reply["acts_on"]) >= {"push", "delete"}


def test_signatures(local):
    headers, body = sample("push")
    good = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "sig-1", "content-type": "application/json"}
    for name, extra in [
        ("missing", {}),
        ("empty", {"X-Hub-Signature-256": ""}),
        ("sha1 only", {"X-Hub-Signature": "sha1=" + "0" * 40}),
        ("malformed", {"X-Hub-Signature-256": "sha256=zz"}),
        ("truncated", {"X-Hub-Signature-256": headers["x-hub-signature-256"][:-4]}),
    ]:
        status, reply = post_raw(local, {**good, **extra}, body, sign=False)
        assert status == 401, (name, reply)
        assert local.env["STEPDEPLOY_WEBHOOK_SECRET"] not in json.dumps(reply), reply
        assert set(reply) == {"error"}, reply
    status, reply = local.post("push", body, secret="a-wrong-secret")
    assert status == 401
    # The sample's own header is signed with the local secret, whatever the header's case.
    status, reply = post_raw(local, {k.upper(): v for k, v in headers.items()}, body, sign=False)
    assert status in (200, 202), reply
    headers, body = sample("bad-signature")
    status, _ = post_raw(local, headers, body, sign=False)
    assert status == 401


def test_bad_input_is_a_4xx_with_a_reason(local):
    _, body = sample("malformed")
    status, reply = local.post("push", body)
    assert status == 400 and "not JSON" in reply["error"]
    status, reply = local.post("push", b"[1, 2]")
    assert status == 400
    status, reply = local.post("push", {"ref": 5})
    assert status == 400 and "push payload" in reply["error"]
    status, reply = local.post("", {"zen": "x"})
    assert status == 400 and "X-GitHub-Event" in reply["error"]
    status, reply = local.post("push", b"{" + b" " * (1024 * 1024 + 1) + b"}")
    assert status == 413


def test_ignored_deliveries_are_acknowledged(local):
    cases = [
        ("issues", {"action": "opened"}, "not one stepdeploy acts on"),
        ("delete", {"ref": "x", "ref_type": "branch", "repository": {"full_name": "someone/else"}}, "not configured"),
        ("push", local.push_payload(new_commit(), branch="develop", repository="acme/quick"), None),
        ("push", {**local.push_payload(new_commit()), "ref": "refs/tags/v1.0.0"}, "not a branch"),
        ("push", {**local.push_payload(new_commit()), "deleted": True}, "deleted"),
        ("delete", {"ref": "main", "ref_type": "branch", "repository": {"full_name": "stepdeploy-samples/flask-banking"}}, "not a preview"),
    ]
    for event, payload, why in cases[:2] + cases[3:]:
        status, reply = local.post(event, payload)
        assert status == 200, (event, reply)
        assert why in reply["ignored"], reply
    # `develop` feeds quick's staging environment: that one deploys.
    status, reply = local.post("push", cases[2][1])
    assert status == 202 and reply["environment"] == "staging"


def test_form_encoded_deliveries_are_verified_over_the_raw_body(local):
    payload = local.push_payload(new_commit(), repository="acme/quick")
    body = ("payload=" + urllib.parse.quote_plus(json.dumps(payload))).encode()
    status, reply = local.post("push", body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert status == 202, reply


def test_a_redelivery_starts_nothing(local):
    payload = local.push_payload(new_commit(), repository="acme/quick")
    status, first = local.post("push", payload, delivery="redelivered-1")
    assert status == 202
    status, again = local.post("push", payload, delivery="redelivered-1")
    assert status == 200 and again["duplicate"] is True
    assert again["deployment_id"] == first["deployment_id"]
    assert len(local.executions(first["deployment_id"])) == 1


def test_a_redelivery_storm_starts_one_execution(local):
    payload = local.push_payload(new_commit(), repository="acme/quick")
    replies = []

    def send():
        replies.append(local.post("push", payload, delivery="storm-1"))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s in (200, 202) for s, _ in replies), replies
    ids = {r["deployment_id"] for _, r in replies}
    assert len(ids) == 1
    assert len(local.executions(ids.pop())) == 1


def test_twenty_concurrent_pushes_are_all_recorded(local):
    commits = [new_commit() for _ in range(20)]
    replies = {}

    def send(commit):
        replies[commit] = local.push(commit, repository="acme/quick")

    threads = [threading.Thread(target=send, args=(c,)) for c in commits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s == 202 for s, _ in replies.values()), replies
    for commit, (_, reply) in replies.items():
        record = local.deployment("quick", "production", reply["deployment_id"])
        assert record is not None and record["commit"] == commit
        assert len(local.executions(reply["deployment_id"])) == 1


def test_a_rotated_secret_is_picked_up_and_the_previous_one_still_works(local):
    import time

    sm = local.c("secretsmanager")
    secret_id = local.env["STEPDEPLOY_WEBHOOK_SECRET_ID"]
    old = local.env["STEPDEPLOY_WEBHOOK_SECRET"]
    new = "rotated-" + new_commit()[:20]
    payload = {"zen": "Rotate early, rotate often.", "hook_id": 1}
    assert local.post("ping", payload)[0] == 200  # the old secret is cached
    sm.put_secret_value(SecretId=secret_id, SecretString=new)
    try:
        time.sleep(11)  # a failed signature re-reads the secret at most every 10 s
        status, reply = local.post("ping", payload, secret=new)
        assert status == 200, reply
        status, reply = local.post("ping", payload, secret=old)  # AWSPREVIOUS, during the rotation window
        assert status == 200, reply
        assert local.post("ping", payload, secret="neither")[0] == 401
    finally:
        # The cache keeps both values, so the old secret stays valid for the other tests.
        sm.put_secret_value(SecretId=secret_id, SecretString=old)
