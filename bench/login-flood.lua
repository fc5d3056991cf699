-- Loaded by bench/run.sh for the login-flood arm: a password-guessing flood spread over many
-- client addresses (the flood gateway trusts 127.0.0.1 as its proxy, so X-Forwarded-For is the
-- client) and many support user names, each request a different guess, at a fixed rate (each
-- connection pauses FLOOD_DELAY_MS between attempts). At the end, one line with the counts by status.
local counter = 0
-- Global (per thread): done() reads each thread's table through thread:get.
statuses = {}
-- Milliseconds each connection waits between attempts (BENCH_FLOOD_RATE sets it through run.sh): a fixed rate.
local pause = tonumber(os.getenv("FLOOD_DELAY_MS") or "0")

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  counter = counter + 1
  local ip = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  local body = string.format('{"username":"guess%d$john","password":"wrong-%d"}', math.random(1, 1000000), counter)
  return wrk.format("POST", "/_gateway/support/login",
    { ["Host"] = "acme.localhost", ["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip }, body)
end

function delay()
  return pause
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- Threads keep their own counters; wrk gives done() the merged summary only, so each thread's
-- table is reached through its `statuses` global.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local by = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do by[code] = (by[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(by) do table.insert(parts, string.format('"%d":%d', code, n)) end
  io.write(string.format('FLOOD_JSON {"requests":%d,"duration_us":%d,"p99_us":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(99), table.concat(parts, ",")))
end
