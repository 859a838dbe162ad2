-- wrk script: POST /user_tags with realistic, varying tags (SPEC §1). Every request is a new
-- tag: a cookie out of 1,000,000 (a few heavy shoppers, a long tail), ~100 countries, three
-- devices, 1,000 origins, 250 brands, 67 categories, ~5 % BUYs, prices from 1 to 100,000 and
-- times that advance 1 ms per tag from 2022-03-01T00:00:00Z (each wrk thread its own
-- interleaved sequence, so times are nearly ordered across threads, as from a real stream).
-- The fraction is left out when it is zero, as the real stream does.
local threads = {}
local thread_counter = 0

function setup(thread)
  thread:set("thread_id", thread_counter)
  thread_counter = thread_counter + 1
  table.insert(threads, thread)
end

local alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
local countries, origins, brands, categories = {}, {}, {}, {}
local devices = {"PC", "MOBILE", "TV"}
local base = 1646092800  -- 2022-03-01T00:00:00Z
local n = 0
local step = 1

local function name(prefix, i)
  return prefix .. "_" .. i
end

function init(args)
  math.randomseed(12345 + (thread_id or 0))
  step = tonumber(args[1] or "2") or 2  -- wrk threads, so each thread takes every step-th ms
  n = thread_id or 0
  for i = 1, 100 do
    local a = string.byte("A") + (i - 1) % 26
    local b = string.byte("A") + math.floor((i - 1) / 26)
    countries[i] = string.char(a, b)
  end
  for i = 1, 1000 do origins[i] = name("CAMPAIGN_ORIGIN", i) end
  for i = 1, 250 do brands[i] = name("Brand", i) end
  for i = 1, 67 do categories[i] = name("CATEGORY", i) end
end

local function cookie()
  -- 1 in 5 tags from 2,000 heavy shoppers, the rest from 1,000,000.
  local id
  if math.random() < 0.2 then id = math.random(1, 2000) else id = math.random(1, 1000000) end
  local chars = {}
  local x = id * 2654435761 % 4294967296
  for i = 1, 20 do
    local k = (x + i * 7919) % 62 + 1
    chars[i] = string.sub(alnum, k, k)
    x = math.floor(x / 3) + id
  end
  return table.concat(chars)
end

local function skewed(count)
  -- a Zipf-like pick: low indices much more frequent
  local r = math.random()
  return math.floor(count ^ (r * r)) 
end

function request()
  local ms = n
  n = n + step
  local seconds = base + math.floor(ms / 1000)
  local frac = ms % 1000
  local time = os.date("!%Y-%m-%dT%H:%M:%S", seconds)
  if frac ~= 0 then time = time .. string.format(".%03d", frac) end
  time = time .. "Z"
  local action = "VIEW"
  if math.random() < 0.05 then action = "BUY" end
  local body = string.format(
    '{"time":"%s","cookie":"%s","country":"%s","device":"%s","action":"%s","origin":"%s",' ..
    '"product_info":{"product_id":%d,"brand_id":"%s","category_id":"%s","price":%d}}',
    time, cookie(), countries[skewed(100)], devices[math.random(1, 3)], action,
    origins[skewed(1000)], math.random(1, 1000000), brands[skewed(250)],
    categories[skewed(67)], math.random(1, 100000))
  return wrk.format("POST", "/user_tags", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local non204 = summary.errors.status
  io.write(string.format("RESULT requests=%d duration_s=%.2f rate=%.0f p50_ms=%.3f p90_ms=%.3f " ..
                         "p99_ms=%.3f p999_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, non204,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
