"""What an environment owns in the emulator, found the way AWS would show it
to an operator: by the ownership tags, kind by kind, independently of what
stepdeploy's ledger says it made."""

OWNER_KEYS = ("stepdeploy:app", "stepdeploy:environment")

# What a first deploy of a default app makes.
FIRST_DEPLOY = {"VPC": 1, "subnet": 4, "internet gateway": 1, "Elastic IP": 1, "NAT gateway": 1, "route table": 2,
                "security group": 3, "load balancer": 1, "target group": 1, "listener": 1, "DB subnet group": 1,
                "DB instance": 1, "log group": 1, "ECS cluster": 1, "ECS service": 1, "task definition": 1}


def is_owned(tags, app: str, environment: str) -> bool:
    pairs = {(t.get("Key", t.get("key")), t.get("Value", t.get("value"))) for t in tags or []}
    return {(OWNER_KEYS[0], app), (OWNER_KEYS[1], environment)} <= pairs


def inventory(local, app: str, environment: str = "production") -> dict[str, list[str]]:
    """The ids of everything live that carries the environment's ownership tags."""
    ec2, elb, rds, ecs, logs = (local.c(s) for s in ("ec2", "elbv2", "rds", "ecs", "logs"))
    tag = [{"Name": f"tag:{OWNER_KEYS[0]}", "Values": [app]}, {"Name": f"tag:{OWNER_KEYS[1]}", "Values": [environment]}]

    def mine(tags):
        return is_owned(tags, app, environment)

    def ec2_ids(call, key, id_key):
        return [r[id_key] for r in call(Filters=tag)[key] if mine(r.get("Tags"))]

    found = {
        "VPC": ec2_ids(ec2.describe_vpcs, "Vpcs", "VpcId"),
        "subnet": ec2_ids(ec2.describe_subnets, "Subnets", "SubnetId"),
        "internet gateway": ec2_ids(ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
        "Elastic IP": ec2_ids(ec2.describe_addresses, "Addresses", "AllocationId"),
        # moto's DescribeNatGateways ignores tag filters: the tags are checked here.
        "NAT gateway": [n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"]
                        if mine(n.get("Tags")) and n["State"] not in ("deleting", "deleted")],
        "route table": ec2_ids(ec2.describe_route_tables, "RouteTables", "RouteTableId"),
        "security group": ec2_ids(ec2.describe_security_groups, "SecurityGroups", "GroupId"),
    }

    def elb_owned(arns):
        out = []
        for i in range(0, len(arns), 20):  # DescribeTags takes 20 ARNs at most
            out += [d["ResourceArn"] for d in elb.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]
                    if mine(d["Tags"])]
        return out

    found["load balancer"] = elb_owned([lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]])
    found["target group"] = elb_owned([tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]])
    found["listener"] = [listener["ListenerArn"] for lb in found["load balancer"]
                         for listener in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]]
    found["DB subnet group"] = [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]
                                if mine(rds.list_tags_for_resource(ResourceName=g["DBSubnetGroupArn"])["TagList"])]
    found["DB instance"] = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
                            if mine(d.get("TagList"))]
    found["log group"] = [g["logGroupName"] for g in
                          logs.describe_log_groups(logGroupNamePrefix=f"/stepdeploy/{app}/{environment}")["logGroups"]
                          if g["logGroupName"] == f"/stepdeploy/{app}/{environment}"]
    clusters = ecs.list_clusters()["clusterArns"]
    described = ecs.describe_clusters(clusters=clusters, include=["TAGS"])["clusters"] if clusters else []
    found["ECS cluster"] = [c["clusterArn"] for c in described if mine(c.get("tags")) and c["status"] == "ACTIVE"]
    found["ECS service"] = []
    for cluster in found["ECS cluster"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for s in ecs.describe_services(cluster=cluster, services=arns, include=["TAGS"])["services"] if arns else []:
            if mine(s.get("tags")) and s["status"] == "ACTIVE":
                found["ECS service"].append(s["serviceArn"])
    found["task definition"] = [
        arn for arn in ecs.list_task_definitions(familyPrefix=f"{app}-{environment}", status="ACTIVE")["taskDefinitionArns"]
        if mine(ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"]).get("tags"))]
    return found


def counts(found: dict[str, list[str]]) -> dict[str, int]:
    return {kind: len(ids) for kind, ids in found.items()}
