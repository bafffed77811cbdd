"""Background work inside the server process: outbox delivery (jobs/outbox.py)."""
