"""Lazily built settings and store for a CLI command, closed when it ends."""

from __future__ import annotations

import argparse
from functools import cached_property
from typing import TypeAlias

from authserver.settings import Settings, load_settings
from authserver.store import Store

# What each command module's register() adds its sub-command to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Context:
    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @cached_property
    def store(self) -> Store:
        from authserver.cli.output import CommandError
        from authserver.services import build_store
        from authserver.store.sql import migrate

        current, head = migrate.status(self.settings.database_url)
        if current != head:
            raise CommandError(
                f"the database is at schema revision {current or 'none'}, not {head}: run `authserver migrate`"
            )
        return build_store(self.settings)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
