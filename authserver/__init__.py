"""authserver: a standards-based OAuth 2.0 / OpenID Connect identity provider."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The one version source is pyproject.toml; an installed package (wheel or editable) carries it.
    __version__ = version("authserver")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
