"""One source of truth for settings: the Settings class. Its reference page and docker-compose.yml
follow it, and every setting says what it does."""

import pathlib
import re

from authserver.settings import Settings, reference

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_setting_has_a_description():
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_the_configuration_reference_is_generated_from_the_settings():
    assert (ROOT / "docs" / "configuration.md").read_text() == reference(), "run make docs"


def test_docker_compose_passes_every_setting():
    compose = (ROOT / "docker-compose.yml").read_text()
    passed = set(re.findall(r"^\s+(AUTHSERVER_[A-Z0-9_]+):", compose, re.M))
    expected = {f"AUTHSERVER_{name.upper()}" for name in Settings.model_fields}
    assert sorted(expected - passed) == [], "add them to x-authserver-env in docker-compose.yml"
