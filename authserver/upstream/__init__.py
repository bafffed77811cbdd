"""Sign-in through other identity providers ("Continue with Google"): the upstream registry (presets,
discovery), the sign-in itself (redirect, code exchange, ID token and user-info checks, key caching) and
how an upstream account becomes, or joins, a local one.

The only caller of authlib's client side (through oauth/upstream.py) and of outbound calls to other
identity providers (through delivery/http.py and security/egress.py). No HTTP framework here: the pages
in interaction/upstream.py drive it.
"""
