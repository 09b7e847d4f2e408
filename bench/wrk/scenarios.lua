-- One request generator per scenario; BENCH_SCENARIO picks it. Each returns a wrk request string.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local CASES = "/api/v1/cases"
local generators = {}

function generators.get_case()
  local cases = load_pairs("cases.tsv")
  return function()
    local c = cases[math.random(#cases)]
    return wrk.format("GET", CASES .. "/" .. c[2], {["X-User-ID"] = c[1]})
  end
end

function generators.list_first_page()
  local cases = load_pairs("cases.tsv")
  return function()
    local c = cases[math.random(#cases)]
    return wrk.format("GET", CASES .. "?status=active&limit=50", {["X-User-ID"] = c[1]})
  end
end

-- GETs of "user<TAB>path?query" lines the harness prepared (a cursor 10,000 cases deep, searches...).
local function from_paths(file)
  return function()
    local paths = load_pairs(file)
    return function()
      local p = paths[math.random(#paths)]
      return wrk.format("GET", p[2], {["X-User-ID"] = p[1]})
    end
  end
end
generators.list_cursor_10k = from_paths("list_cursor_10k_paths.tsv")
generators.search = from_paths("search_paths.tsv")
generators.stats = from_paths("stats_paths.tsv")

function generators.context()
  local cases = load_pairs("cases.tsv")
  return function()
    local c = cases[math.random(#cases)]
    return wrk.format("GET", CASES .. "/" .. c[2] .. "/context", {["X-User-ID"] = c[1]})
  end
end

local CREATE_BODY = '{"title":"Checkout latency spike","description":"p99 above 2 s since the deploy",' ..
  '"severity":"high","category":"performance","metadata":{"service":"checkout"}}'

function generators.create_case()
  local writers = load_pairs("writers.tsv")
  return function()
    local w = writers[math.random(#writers)]
    return wrk.format("POST", CASES, json_headers(w[1]), CREATE_BODY)
  end
end

local MESSAGE_BODY = '{"role":"user","content":"The pool saturates at peak; p99 went from 80 ms to 4 s.",' ..
  '"metadata":{"source":"chat"}}'

function generators.add_message()
  local next_case = cycler(load_pairs("message_pool.tsv"))
  return function()
    local _, c = next_case()
    return wrk.format("POST", CASES .. "/" .. c[2] .. "/messages", json_headers(c[1]), MESSAGE_BODY)
  end
end

-- The pool's cases start in `investigating`; each request moves one to resolved or back, by the
-- status the service last answered for it (wrk builds one request at start that it never sends,
-- so counting requests would drift).
function generators.change_status()
  local next_case = cycler(load_pairs("status_pool.tsv"))
  local current = {}
  response = function(status, headers, body)
    local id = body:match('"case_id":"(case_%x+)"')
    local now = body:match(status == 200 and '"status":"(%a+)"' or '"current_status":"(%a+)"')
    if id and now then current[id] = now end
  end
  return function()
    local _, c = next_case()
    local target = current[c[2]] == "resolved" and "investigating" or "resolved"
    return wrk.format("POST", CASES .. "/" .. c[2] .. "/status", json_headers(c[1]),
      '{"status":"' .. target .. '"}')
  end
end

-- What a dashboard does: mostly reads (open cases, the list, the agent context, and search and
-- stats where the service has them), some appends and creates. Weights from BENCH_MIX.
function generators.dashboard()
  local mix = {}
  for name, weight in (os.getenv("BENCH_MIX") or ""):gmatch("([%w_]+)=(%d+)") do
    local make = generators[name]
    for _ = 1, tonumber(weight) do mix[#mix + 1] = make end
  end
  assert(#mix > 0, "BENCH_MIX is empty")
  local built = {}
  local picks = {}
  for i, make in ipairs(mix) do
    built[make] = built[make] or make()
    picks[i] = built[make]
  end
  return function()
    return picks[math.random(#picks)]()
  end
end

local scenario = os.getenv("BENCH_SCENARIO")
assert(generators[scenario], "unknown scenario " .. tostring(scenario))
request = generators[scenario]()
