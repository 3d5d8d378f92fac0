-- wrk script: POST the NDJSON body in $URSA_BODY to the records endpoint and
-- report latency percentiles as one JSON line at the end.
local f = assert(io.open(os.getenv("URSA_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-ndjson"

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"errors":%d,"non2xx":%d,"seconds":%.3f,"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
