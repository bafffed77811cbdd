"""Which destinations outbound calls (back-channel logout) may reach: security/egress.py.

The HTTP tests (tests/http/test_backchannel_logout.py) run in development against a loopback
receiver; production's stricter rules are pinned here, on literal addresses (no DNS needed)."""

from __future__ import annotations

import ipaddress

import pytest

from authserver.security.egress import EgressPolicy, EgressRefused, Unresolvable, parse_networks

PRODUCTION = EgressPolicy(production=True)
DEVELOPMENT = EgressPolicy(production=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/bc",  # loopback
        "https://[::1]/bc",
        "https://10.1.2.3/bc",  # private
        "https://192.168.0.10/bc",
        "https://172.16.5.5/bc",
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://[fe80::1]/bc",
        "https://100.64.0.1/bc",  # carrier-grade NAT
        "https://0.0.0.0/bc",
        "https://[::ffff:10.0.0.1]/bc",  # IPv4-mapped private address
        "https://224.0.0.1/bc",  # multicast
    ],
)
def test_production_refuses_non_public_addresses(url):
    with pytest.raises(EgressRefused):
        PRODUCTION.destination(url)


def test_production_accepts_public_https_and_pins_the_checked_address():
    destination = PRODUCTION.destination("https://93.184.216.34:8443/logout?rp=1")
    assert destination.pinned_url == "https://93.184.216.34:8443/logout?rp=1"
    assert destination.host_header == "93.184.216.34:8443"


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/bc",  # plain http in production
        "ftp://93.184.216.34/bc",
        "https://user:pw@93.184.216.34/bc",
        "https://93.184.216.34/bc#x",
        "not a url",
        "https:///bc",
    ],
)
def test_production_refuses_other_shapes(url):
    with pytest.raises(EgressRefused):
        PRODUCTION.destination(url)


def test_listed_networks_are_allowed_in_production():
    policy = EgressPolicy(production=True, allowed_networks=parse_networks("10.1.2.0/24, fd00::/8"))
    assert policy.destination("https://10.1.2.3/bc").address == ipaddress.ip_address("10.1.2.3")
    with pytest.raises(EgressRefused):
        policy.destination("https://10.1.3.3/bc")


def test_development_allows_http_only_to_loopback():
    assert DEVELOPMENT.destination("http://127.0.0.1:8080/bc").pinned_url == "http://127.0.0.1:8080/bc"
    assert DEVELOPMENT.destination("http://localhost:8080/bc").address.is_loopback
    with pytest.raises(EgressRefused):
        DEVELOPMENT.destination("http://93.184.216.34/bc")
    # https to a private test receiver is fine in development.
    assert DEVELOPMENT.destination("https://10.0.0.5/bc").address == ipaddress.ip_address("10.0.0.5")


def test_a_name_that_does_not_resolve_is_retryable_not_refused():
    with pytest.raises(Unresolvable):
        DEVELOPMENT.destination("https://no-such-host.invalid/bc")


def test_malformed_allowed_networks_are_refused():
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/8, not-a-network")
