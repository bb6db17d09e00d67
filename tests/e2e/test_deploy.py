"""A signed push deploys end to end: webhook -> deploy state machine -> Lambdas -> emulator."""

import json

from conftest import ROOT, new_commit

BRANCHES = {"Provision Database", "Database Ready?", "Database Done",
            "Provision Load Balancer", "Load Balancer Ready?", "Load Balancer Done"}
BRANCH_WAITS = {"Wait For Database", "Wait For Load Balancer"}


def path_of(states):
    """The states entered, with the Parallel branches as a set (they interleave)
    and each polling loop (Provision X, X Ready?, Wait For X) folded to one pass."""
    out, branch = [], set()
    for s in states:
        if s in BRANCHES or s in BRANCH_WAITS:
            branch.add(s)
            continue
        if s.startswith("Wait For ") and s not in ("Wait For Image", "Wait For Lease"):
            out.pop()  # the Ready? check that sent it here
            out.pop()  # the Provision step it will re-run
            continue
        out.append(s)
        if s == "Provision Database And Load Balancer":
            out.append(branch)
    branch -= BRANCH_WAITS
    return out


HAPPY_PATH = ["Read Spec", "Begin Deployment", "Stopped Before Start?", "Dry Run?", "Report Queued", "Wait For Image",
              "Preflight", "Plan Only?", "Acquire Lease", "Lease Acquired?", "Report In Progress",
              "Provision Network", "Network Ready?", "Provision Database And Load Balancer", BRANCHES,
              "Gather Outputs", "Provision Service", "Service Ready?", "Record Result", "Report Result"]


def owned_vpcs(local, app, environment):
    return local.c("ec2").describe_vpcs(Filters=[
        {"Name": "tag:stepdeploy:app", "Values": [app]},
        {"Name": "tag:stepdeploy:environment", "Values": [environment]},
    ])["Vpcs"]


def test_push_deploys_end_to_end(local):
    commit = new_commit()
    digest = local.put_image("bank", commit)
    status, reply = local.push(commit)
    assert status == 202, reply
    assert reply["environment"] == "production"
    assert reply["execution_arn"].endswith(":" + reply["deployment_id"])

    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    states = local.states(reply["execution_arn"])
    assert path_of(states) == HAPPY_PATH, states
    assert "Wait For Service" in states  # the rollout took a while, and was polled

    out = json.loads(desc["output"])
    assert out["deployment_id"] == reply["deployment_id"]
    assert out["image"].endswith("/bank@" + digest)

    record = local.deployment("bank", "production", reply["deployment_id"])
    assert record["status"] == "SUCCEEDED"
    assert record["commit"] == commit
    assert record["trigger"] == "push"
    assert record["image"] == out["image"]
    env = local.item("ENV#bank#production", "ENV")
    assert env["last_deployment"] == reply["deployment_id"]

    vpcs = owned_vpcs(local, "bank", "production")
    assert len(vpcs) == 1
    assert vpcs[0]["CidrBlock"] == "172.28.0.0/16"
    assert local.item("ENV#bank#production", "RES#vpc")["id"] == vpcs[0]["VpcId"]


def deploy(local, commit):
    status, reply = local.push(commit)
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    return json.loads(desc["output"])


def test_a_new_commit_only_rolls_the_service_and_the_same_commit_changes_nothing(local):
    first, second = new_commit(), new_commit()
    for commit in (first, second):
        local.put_image("bank", commit)
    deploy(local, first)  # whatever the earlier tests left, this converges

    new = deploy(local, second)
    assert new["mutations"] == 2, new["changes"]
    assert new["changes"][0].startswith("registered task definition")
    assert new["changes"][1].startswith("updated service")
    assert second_digest_in(local, new["task_definition"], new["image"])

    same = deploy(local, second)
    assert same["mutations"] == 0, same["changes"]
    assert same["changes"] == []
    assert same["task_definition"] == new["task_definition"]
    assert len(owned_vpcs(local, "bank", "production")) == 1


def second_digest_in(local, task_definition, image):
    td = local.c("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return td["containerDefinitions"][0]["image"] == image


def test_the_whole_topology_exists_as_the_emulator_reports_it(local):
    commit = new_commit()
    digest = local.put_image("bank", commit)
    out = deploy(local, commit)
    owner = [{"Name": "tag:stepdeploy:app", "Values": ["bank"]},
             {"Name": "tag:stepdeploy:environment", "Values": ["production"]}]
    ec2 = local.c("ec2")
    (vpc,) = owned_vpcs(local, "bank", "production")
    subnets = ec2.describe_subnets(Filters=owner)["Subnets"]
    by_role = {next(t["Value"] for t in s["Tags"] if t["Key"] == "stepdeploy:role"): s for s in subnets}
    assert set(by_role) == {"public-1", "public-2", "private-1", "private-2"}
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    assert all(s["VpcId"] == vpc["VpcId"] for s in subnets)
    (igw,) = ec2.describe_internet_gateways(Filters=owner)["InternetGateways"]
    assert igw["Attachments"][0]["VpcId"] == vpc["VpcId"]
    # moto's DescribeNatGateways ignores tag filters: keep what carries the tags.
    tags = lambda r: {t["Key"]: t["Value"] for t in r.get("Tags", [])}  # noqa: E731
    (nat,) = [n for n in ec2.describe_nat_gateways(Filters=owner)["NatGateways"]
              if tags(n).get("stepdeploy:app") == "bank" and tags(n).get("stepdeploy:environment") == "production"]
    assert nat["SubnetId"] == by_role["public-1"]["SubnetId"]
    (eip,) = ec2.describe_addresses(Filters=owner)["Addresses"]
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == eip["AllocationId"]
    tables = {next(t["Value"] for t in r["Tags"] if t["Key"] == "stepdeploy:role"): r
              for r in ec2.describe_route_tables(Filters=owner)["RouteTables"]}
    default = lambda r: next(x for x in r["Routes"] if x.get("DestinationCidrBlock") == "0.0.0.0/0")  # noqa: E731
    assert default(tables["public"])["GatewayId"] == igw["InternetGatewayId"]
    assert default(tables["private"])["NatGatewayId"] == nat["NatGatewayId"]
    assert {a["SubnetId"] for a in tables["private"]["Associations"] if "SubnetId" in a} == \
        {by_role["private-1"]["SubnetId"], by_role["private-2"]["SubnetId"]}

    groups = {next(t["Value"] for t in g["Tags"] if t["Key"] == "stepdeploy:role"): g
              for g in ec2.describe_security_groups(Filters=owner)["SecurityGroups"]}
    rules = lambda g: [(p["IpProtocol"], p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]],  # noqa: E731
                        [x["GroupId"] for x in p["UserIdGroupPairs"]]) for p in g["IpPermissions"]]
    assert rules(groups["lb"]) == [("tcp", 80, ["0.0.0.0/0"], [])]
    assert rules(groups["tasks"]) == [("tcp", 8000, [], [groups["lb"]["GroupId"]])]
    assert rules(groups["db"]) == [("tcp", 3306, [], [groups["tasks"]["GroupId"]])]

    elb = local.c("elbv2")
    (lb,) = elb.describe_load_balancers(Names=["bank-production"])["LoadBalancers"]
    assert lb["Scheme"] == "internet-facing"
    assert set(lb["AvailabilityZones"][i]["SubnetId"] for i in range(2)) == \
        {by_role["public-1"]["SubnetId"], by_role["public-2"]["SubnetId"]}
    assert out["url"] == f"http://{lb['DNSName']}"
    (tg,) = elb.describe_target_groups(Names=["bank-production-tg"])["TargetGroups"]
    assert (tg["TargetType"], tg["Port"], tg["HealthCheckPath"]) == ("ip", 8000, "/health")
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert listener["Port"] == 80
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]

    rds = local.c("rds")
    (db,) = rds.describe_db_instances(DBInstanceIdentifier="bank-production-db")["DBInstances"]
    assert db["Engine"] == "mysql" and db["DBName"] == "banking"
    assert db["PubliclyAccessible"] is False and db["StorageEncrypted"] is True
    assert "MasterUserSecret" in db
    assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == \
        {by_role["private-1"]["SubnetId"], by_role["private-2"]["SubnetId"]}
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [groups["db"]["GroupId"]]

    ecs = local.c("ecs")
    (svc,) = ecs.describe_services(cluster="bank-production", services=["bank-production"])["services"]
    assert svc["desiredCount"] == 2 and svc["runningCount"] == 2 and svc["launchType"] == "FARGATE"
    net = svc["networkConfiguration"]["awsvpcConfiguration"]
    assert set(net["subnets"]) == {by_role["private-1"]["SubnetId"], by_role["private-2"]["SubnetId"]}
    assert net["securityGroups"] == [groups["tasks"]["GroupId"]] and net["assignPublicIp"] == "DISABLED"
    assert svc["loadBalancers"][0]["targetGroupArn"] == tg["TargetGroupArn"]
    assert svc["loadBalancers"][0]["containerPort"] == 8000
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    assert (td["cpu"], td["memory"], td["networkMode"]) == ("512", "1024", "awsvpc")
    (container,) = td["containerDefinitions"]
    assert container["image"].endswith("/bank@" + digest)
    assert container["portMappings"][0]["containerPort"] == 8000
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["DB_HOST"] == db["Endpoint"]["Address"] and env["DB_NAME"] == "banking"
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets["DB_PASSWORD"] == db["MasterUserSecret"]["SecretArn"] + ":password::"
    assert "PASSWORD" not in json.dumps(container["environment"]).upper()
    logs = local.c("logs").describe_log_groups(logGroupNamePrefix="/stepdeploy/bank/production")["logGroups"]
    assert logs[0]["retentionInDays"] == 30
    record = local.deployment("bank", "production", out["deployment_id"])
    assert record["url"] == out["url"]


def test_console_input_deploys(local):
    request = json.loads((ROOT / "events" / "deploy.manual.json").read_text())
    local.put_image("bank", request["commit"])
    sfn = local.c("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"],
                              name="manual-console-start", input=json.dumps(request))["executionArn"]
    desc = local.follow(arn)
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    record = local.deployment("bank", "production", "manual-console-start")
    assert record["status"] == "SUCCEEDED"
    assert record["trigger"] == "manual"


def test_a_bad_request_is_refused_with_what_to_fix(local):
    sfn = local.c("stepfunctions")
    cases = [
        ({"app": "bank", "environment": "staging", "commit": new_commit()}, "no environment \"staging\""),
        ({"app": "nope", "environment": "production", "commit": new_commit()}, "not registered"),
        ({"app": "bank", "environment": "production", "commit": "HEAD"}, "40-character"),
        ({"app": "bank", "environment": "production", "commit": new_commit(), "comit": "x"}, "unknown field `comit`"),
    ]
    for i, (request, why) in enumerate(cases):
        arn = sfn.start_execution(stateMachineArn=local.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"],
                                  name=f"refused-{i}", input=json.dumps(request))["executionArn"]
        desc = local.follow(arn)
        assert desc["status"] == "FAILED"
        assert desc["error"] == "InvalidInput", desc
        assert why in desc["cause"], desc["cause"]
        assert local.states(arn) == ["Read Spec", "Begin Deployment", "Explain Refusal", "Report Refusal", "Request Refused"]
        # A request that parsed is closed in the ledger as refused, with why; nothing stays open.
        if "comit" not in request:
            record = local.deployment(request["app"], request["environment"], f"refused-{i}")
            assert record and record["status"] == "REFUSED", record
            assert why in record["cause"] and record["error"] == "InvalidInput", record


def test_a_nat_gateway_per_zone_when_the_spec_asks_and_its_health_check(local):
    commit = new_commit()
    local.put_image("azapp", commit)
    status, reply = local.push(commit, repository="acme/azapp")
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    ec2 = local.c("ec2")
    owner = [{"Name": "tag:stepdeploy:app", "Values": ["azapp"]}, {"Name": "tag:stepdeploy:environment", "Values": ["production"]}]
    role = lambda r: next((t["Value"] for t in r.get("Tags", []) if t["Key"] == "stepdeploy:role"), None)  # noqa: E731
    subnets = {role(s): s["SubnetId"] for s in ec2.describe_subnets(Filters=owner)["Subnets"]}
    # moto ignores tag filters on NAT gateways: select by tags here.
    nats = {role(n): n for n in ec2.describe_nat_gateways()["NatGateways"]
            if {"stepdeploy:app": "azapp"}.items() <= {t["Key"]: t["Value"] for t in n.get("Tags", [])}.items()}
    assert set(nats) == {"nat-1", "nat-2"}
    assert nats["nat-1"]["SubnetId"] == subnets["public-1"] and nats["nat-2"]["SubnetId"] == subnets["public-2"]
    assert len(ec2.describe_addresses(Filters=owner)["Addresses"]) == 2
    tables = {role(t): t for t in ec2.describe_route_tables(Filters=owner)["RouteTables"]}
    assert set(tables) == {"public", "private-1", "private-2"}
    for n in ("1", "2"):
        t = tables[f"private-{n}"]
        route = next(r for r in t["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")
        assert route["NatGatewayId"] == nats[f"nat-{n}"]["NatGatewayId"]
        assert [a["SubnetId"] for a in t["Associations"] if "SubnetId" in a] == [subnets[f"private-{n}"]]
    (tg,) = local.c("elbv2").describe_target_groups(Names=["azapp-production-tg"])["TargetGroups"]
    assert (tg["HealthCheckPath"], tg["HealthCheckIntervalSeconds"], tg["HealthyThresholdCount"]) == ("/healthz", 30, 3)
    again = deploy_app(local, commit, "acme/azapp")
    assert again["mutations"] == 0, again["changes"]


def deploy_app(local, commit, repository):
    status, reply = local.push(commit, repository=repository)
    assert status == 202, reply
    desc = local.follow(reply["execution_arn"])
    assert desc["status"] == "SUCCEEDED", desc.get("cause")
    return json.loads(desc["output"])


def test_inbound_rules_added_by_hand_are_revoked_whatever_their_kind(local):
    """The load balancer's group admits HTTP from anywhere and nothing else:
    an IPv4 range, an IPv6 range and a prefix list added by hand all go at
    the next deploy."""
    commit = new_commit()
    local.put_image("bank", commit)
    deploy(local, commit)
    ec2 = local.c("ec2")
    owner = [{"Name": "tag:stepdeploy:app", "Values": ["bank"]},
             {"Name": "tag:stepdeploy:environment", "Values": ["production"]},
             {"Name": "tag:stepdeploy:role", "Values": ["lb"]}]
    (group,) = ec2.describe_security_groups(Filters=owner)["SecurityGroups"]
    prefix_list = ec2.create_managed_prefix_list(PrefixListName="office", MaxEntries=2, AddressFamily="IPv4",
                                                 Entries=[{"Cidr": "198.51.100.0/24"}])["PrefixList"]["PrefixListId"]
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": prefix_list}]},
    ])
    out = deploy(local, commit)
    revoked = [c for c in out["changes"] if c.startswith("revoked")]
    assert revoked and all(group["GroupId"] in c for c in revoked), out["changes"]
    for source in ("0.0.0.0/0", "::/0", prefix_list):
        assert any(source in c for c in revoked), (source, revoked)
    (after,) = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"]
    rules = [(p["IpProtocol"], p.get("FromPort"), [r["CidrIp"] for r in p.get("IpRanges", [])],
              p.get("Ipv6Ranges", []), p.get("PrefixListIds", [])) for p in after["IpPermissions"]]
    assert rules == [("tcp", 80, ["0.0.0.0/0"], [], [])], rules
