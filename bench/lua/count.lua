-- Stops each wrk thread after a fixed number of responses (the first argument after --,
-- per thread); wrk's -d still bounds the run. Prints "COUNT <responses> <non-200>".

local limit, seen, bad = 0, 0, 0

function init(args)
   limit = tonumber(args[1]) or 1000
end

function response(status, headers, body)
   seen = seen + 1
   if status ~= 200 then bad = bad + 1 end
   if seen >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
   io.write(string.format("COUNT %d %d\n", summary.requests, summary.errors.status))
end
