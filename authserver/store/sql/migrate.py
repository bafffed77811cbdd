"""Run alembic programmatically: `authserver migrate` needs no alembic.ini or working directory."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from authserver.resources import resource_dir
from authserver.store.sql.engine import make_engine, translate_errors


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    with translate_errors():
        command.upgrade(_config(url), revision)


@functools.cache
def head() -> str | None:
    """The newest revision of the migrations shipped with this code (they cannot change while it runs;
    reading them costs ~20 ms, which every CLI command would pay again)."""
    return ScriptDirectory.from_config(_config("sqlite://")).get_current_head()


def status(url: str) -> tuple[str | None, str | None]:
    """(current revision, head revision)."""
    engine = make_engine(url)
    try:
        with translate_errors(), engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current, head()
