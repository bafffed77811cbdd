"""Key ids are RFC 7638 thumbprints that a command line can take as an argument."""

from __future__ import annotations

from authserver.oauth import keys


def test_a_key_whose_thumbprint_starts_with_a_dash_is_replaced(monkeypatch):
    # `authserver keys retire KID` would read a kid starting with "-" as an option.
    real = keys.RSAKey.thumbprint
    made: list[str] = []

    def thumbprint(self):  # type: ignore[no-untyped-def]
        made.append(real(self))
        return "-" + made[-1][1:] if len(made) == 1 else made[-1]

    monkeypatch.setattr(keys.RSAKey, "thumbprint", thumbprint)
    kid, public, pem = keys.generate_rsa(2048)
    assert len(made) == 2, "the first key was discarded"
    assert kid == made[1] and not kid.startswith("-")
    assert public["kid"] == kid
    assert keys.load_private(pem, kid).thumbprint() == kid
