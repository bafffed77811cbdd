"""If-Match against a real server: parallel PATCHes carrying the same ETag, one wins, the others get 412
and nothing they sent is stored (no lost update), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading

import httpx

from tests.conftest import REDIS_URL
from tests.helpers import basic
from tests.server import start, stop

API = "/admin/api/v1"
PARALLEL = 8


def test_parallel_patches_with_one_etag_store_exactly_one(env, register, tmp_path):
    admin = register("--admin", name="terraform")
    target = register(name="original")
    proc, base = start(env, tmp_path, *(["--workers", "2"] if REDIS_URL else []))
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            token = http.post(
                "/token",
                data={"grant_type": "client_credentials"},
                headers=basic(admin["client_id"], admin["client_secret"]),
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{API}/clients/{target['client_id']}"
            etag = http.get(url, headers=headers).headers["etag"]
            barrier = threading.Barrier(PARALLEL)
            results: dict[str, httpx.Response] = {}

            def patch(name: str) -> None:
                with httpx.Client(base_url=base, timeout=60) as own:
                    barrier.wait()
                    results[name] = own.patch(url, json={"name": name}, headers={**headers, "If-Match": etag})

            threads = [threading.Thread(target=patch, args=(f"writer-{i}",)) for i in range(PARALLEL)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            statuses = sorted(r.status_code for r in results.values())
            assert statuses == [200] + [412] * (PARALLEL - 1), {n: r.text for n, r in results.items()}
            winner = next(n for n, r in results.items() if r.status_code == 200)
            stored = http.get(url, headers=headers)
            assert stored.json()["name"] == winner
            assert stored.headers["etag"] == results[winner].headers["etag"] != etag
            for name, response in results.items():
                if name != winner:
                    assert response.headers["content-type"].startswith("application/problem+json")
    finally:
        stop(proc)
