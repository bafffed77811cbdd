"""Key ids are RFC 7638 thumbprints that a command line can take as an argument."""

from __future__ import annotations

from authserver.oauth import keys


def test_a_key_whose_thumbprint_starts_with_a_dash_is_replaced(monkeypatch):
    # `authserver keys retire KID` would read a kid starting with "-" as an option.
    real = keys.RSAKey.thumbprint
    made: list[str] = []

    def thumbprint(self):  # type: ignore[no-untyped-def]
        # The first key's thumbprint is made to start with "-"; later ones are real (and may, 1 in 64).
        made.append("-" + real(self)[1:] if not made else real(self))
        return made[-1]

    monkeypatch.setattr(keys.RSAKey, "thumbprint", thumbprint)
    kid, public, pem = keys.generate_rsa(2048)
    assert len(made) >= 2, "the first key was discarded"
    assert kid == made[-1] and not kid.startswith("-")
    assert all(m.startswith("-") for m in made[:-1])
    assert public["kid"] == kid
    assert keys.load_private(pem, kid).thumbprint() == kid
