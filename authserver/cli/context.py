"""Lazily built settings and store for a CLI command, closed when it ends; the clock its decisions read."""

from __future__ import annotations

import argparse
from functools import cached_property
from typing import TYPE_CHECKING, TypeAlias

from authserver.clock import Clock, system_clock

if TYPE_CHECKING:
    from authserver.cache import Cache
    from authserver.revocations import Denylist
    from authserver.security.passwords import Passwords
    from authserver.settings import Settings
    from authserver.store import Store

# What each command module's register() adds its sub-command to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Context:
    def __init__(self, clock: Clock = system_clock) -> None:
        # What creation times and expiry decisions read (main(clock=...): tests pass the app's clock).
        self.clock = clock

    @cached_property
    def settings(self) -> Settings:
        from authserver.settings import load_settings

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

    @cached_property
    def cache(self) -> Cache:
        from authserver.cache import build_cache

        return build_cache(self.settings.redis_url, self.settings.cache_prefix)

    @cached_property
    def denylist(self) -> Denylist:
        """Revocations reach a shared Redis at once, and every server through the database (an
        in-process cache belongs to the server's process; it copies them within REVOCATION_SYNC_SECONDS)."""
        from authserver.services import build_denylist

        return build_denylist(self.settings, self.cache, self.store, self.clock)

    @cached_property
    def passwords(self) -> Passwords:
        from authserver.security.passwords import Passwords

        return Passwords.from_settings(self.settings)

    def close(self) -> None:
        if "cache" in self.__dict__:
            self.cache.close()
        if "store" in self.__dict__:
            self.store.close()
