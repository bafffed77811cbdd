-- POST /token, client_credentials grant, client_secret_basic.
-- bench/run.py passes the base64 of "client_id:client_secret" in BENCH_BASIC.
-- No request()/response() hooks: wrk sends this one static request with no Lua work per request.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_BASIC"), "BENCH_BASIC is not set")
