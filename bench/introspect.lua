-- POST /introspect (RFC 7662) of one access token obtained beforehand, client_secret_basic.
-- bench/run.py passes the token in BENCH_TOKEN (a JWT: URL-safe characters, no encoding needed)
-- and the base64 of "client_id:client_secret" in BENCH_BASIC.
wrk.method = "POST"
wrk.body = "token=" .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_BASIC"), "BENCH_BASIC is not set")
