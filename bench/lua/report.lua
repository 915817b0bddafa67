-- Prints one machine-readable line after a wrk run:
-- BENCH <requests/s> <p50 ms> <p99 ms> <bytes per response> <errors>
-- It defines no response() hook, so wrk does not parse bodies and the run costs no more.

function done(summary, latency, requests)
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.status + e.timeout
   local n = math.max(summary.requests, 1)
   io.write(string.format("BENCH %.1f %.3f %.3f %.0f %d\n",
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.bytes / n, errors))
end
