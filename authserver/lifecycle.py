"""This process's shutdown state: once draining, /readyz fails so load balancers stop sending
traffic, while requests already routed here are still served (the one process-wide flag we keep)."""

from __future__ import annotations

import threading

draining = threading.Event()
