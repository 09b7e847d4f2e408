-- Shared by every scenario: data files written by the harness, and one machine-readable result line.
local data_dir = os.getenv("BENCH_DATA_DIR")

-- Lines of "user_id<TAB>value" from a file the harness wrote for this run.
function load_pairs(name)
  local rows = {}
  for line in io.lines(data_dir .. "/" .. name) do
    local user, value = line:match("^([^\t]+)\t(.+)$")
    if user then rows[#rows + 1] = {user, value} end
  end
  assert(#rows > 0, "no rows in " .. name)
  return rows
end

function json_headers(user)
  return {["X-User-ID"] = user, ["Content-Type"] = "application/json"}
end

-- Round-robin over a pool: with the pool larger than the connections in flight, no two requests
-- touch the same entry at once (status moves and appends then never conflict).
function cycler(rows)
  local i = 0
  return function()
    i = i % #rows + 1
    return i, rows[i]
  end
end

math.randomseed(os.time())

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
