"""EC2: the Elastic IP limit the account reports, and the network interface
detail moto's ECS tasks need.

moto reports the default Elastic IP limit (5) but enforces none, and the
test stacks create dozens of environments' NAT gateway addresses: the local
account reports a raised limit (`LOCAL_ELASTIC_IP_LIMIT`), which the faults
endpoint can lower (`elastic_ip_limit`, `value`) to show a refusal.

(How a NAT gateway fails when a `stuck` fault is armed is in `faults`.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .patch import patch

if TYPE_CHECKING:
    from .faults import Settings

LOCAL_ELASTIC_IP_LIMIT = 1000


def install(settings: Settings) -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.responses.account_attributes import AccountAttributes

    original = AccountAttributes.describe_account_attributes

    def describe_account_attributes(self):
        result = original(self)
        for attribute in result.result["AccountAttributes"]:
            if attribute["AttributeName"] in ("vpc-max-elastic-ips", "max-elastic-ips"):
                attribute["AttributeValues"] = [{"AttributeValue": str(settings["elastic_ip_limit"])}]
        return result

    patch(AccountAttributes, "describe_account_attributes", describe_account_attributes, expects="(self)")

    # moto sets a network interface's private DNS name only for some
    # interfaces, and fails creating an awsvpc (Fargate) task without one.
    def get(self):
        return self.__dict__.get("_private_dns_name") or (
            "ip-" + str(self.private_ip_address).replace(".", "-") + ".ec2.internal")

    def put(self, value):
        self.__dict__["_private_dns_name"] = value

    patch(NetworkInterface, "private_dns_name", property(get, put), expects=None)
