-- wrk script for bench/bench_ingest.py: POST /api/ingest with batches of click records as the
-- tracker sends them (docs/protocol.md, section 4), every event id unique in the run.
--
--   wrk -t1 -c16 -d<send+tail>s -s bench/ingest_load.lua URL -- APP_ID RUN_NONCE SEND_SECONDS BATCH \
--     USER_AGENT
--
-- A thread sends for SEND_SECONDS, then stays quiet so that every request it sent is answered
-- before wrk stops: then the acknowledged count can be compared with what the database holds.
-- `done` prints one line, "ingest-load {json}", with the counts and latencies.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } footfall_timespec;
  int clock_gettime(int clock_id, footfall_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("footfall_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local threads = {}

-- 8 hex digits that look random, as the tracker's crypto-random ids do, but are unique per `n`:
-- multiplying by an odd number is one-to-one modulo 2^32.
local function scrambled_hex(n, salt)
  return bit.tohex(bit.bxor(bit.tobit(n * 0x9E3B5), salt), 8)
end

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

-- Buttons and links of a shop page: the clicks' targets, as the tracker describes them.
local TARGETS = {
  {tag = "button", id = "add-to-cart", class = "btn btn-primary", text = "Add to cart", href = "",
   hierarchy = "@body;|@div;#app;|@main;.product;|@form;.buy;|@button;#add-to-cart;.btn;.btn-primary;[type=submit];|"},
  {tag = "a", id = "", class = "nav-link", text = "Shoes", href = "/shop/shoes",
   hierarchy = "@body;|@div;#app;|@nav;.top;|@ul;.menu;|@li;|@a;.nav-link;[href=/shop/shoes];|"},
  {tag = "a", id = "checkout", class = "btn", text = "Checkout", href = "/cart/checkout",
   hierarchy = "@body;|@div;#app;|@aside;.cart;|@a;#checkout;.btn;[href=/cart/checkout];|"},
  {tag = "span", id = "", class = "price", text = "$129.00", href = "",
   hierarchy = "@body;|@div;#app;|@main;.product;|@div;.details;|@span;.price;|"},
  {tag = "img", id = "", class = "thumb", text = "", href = "",
   hierarchy = "@body;|@div;#app;|@main;.product;|@div;.gallery;|@img;.thumb;[alt=Red runner];[src=/img/runner-2.jpg];|"},
  {tag = "button", id = "", class = "size-option selected", text = "EU 42", href = "",
   hierarchy = "@body;|@div;#app;|@main;.product;|@fieldset;.sizes;|@button;.selected;.size-option;[type=button];|"},
}

local function json_string(value)
  return '"' .. value:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- Each target as its JSON text, made once.
local TARGET_JSON = {}
for index, target in ipairs(TARGETS) do
  local fields = {}
  for _, key in ipairs({"tag", "id", "class", "text", "href", "hierarchy"}) do
    table.insert(fields, json_string(key) .. ":" .. json_string(target[key]))
  end
  TARGET_JSON[index] = "{" .. table.concat(fields, ",") .. "}"
end

local app_id, nonce, batch_size, user_agent
local send_until
first_sent_ms, last_answer_ms = nil, nil -- globals: `done` reads them
local request_number = 0
-- Counts, one global each (wrk copies only plain values from a thread to `done`).
COUNTS = {"sent", "answered", "ok", "accepted", "duplicates", "rejected", "failed"}
for _, key in ipairs(COUNTS) do
  _G[key] = 0
end

function init(args)
  app_id = args[1]
  nonce = args[2]
  send_until = now_ms() + tonumber(args[3]) * 1000
  batch_size = tonumber(args[4])
  user_agent = args[5]
  math.randomseed(thread_number * 7919)
end

function delay()
  if now_ms() >= send_until then
    return 3600 * 1000 -- quiet until wrk stops
  end
  sent = sent + 1 -- wrk asks for a delay before each request it sends; `request` is also
  return 0 --        called once more, to check the script, and sends nothing then
end

function request()
  request_number = request_number + 1
  if first_sent_ms == nil then
    first_sent_ms = now_ms()
  end
  -- One page of one visitor per batch, as the tracker batches; visitors come back now and then.
  local visitor = math.random(1, 20000)
  local user_id = string.format("%d", 4503599627370496 + visitor * 104729)
  local session_id = string.format("%d", 2251799813685248 + visitor * 7 + thread_number)
  local pageview_id = string.format("%d", 1125899906842624 + thread_number * 100000000 + request_number)
  local path = "/shop/product/" .. (visitor % 300)
  local url = "https://shop.example.com" .. path .. "?color=red"
  local clock = os.time() * 1000
  local shared = table.concat({
    ',"user_id":"', user_id, '","session_id":"', session_id, '","pageview_id":"', pageview_id,
    '","properties":{"plan":"Pro","logged_in":true,"cart_items":', tostring(visitor % 5), '}',
    ',"page":{"url":"', url, '","domain":"shop.example.com","path":"', path,
    '","query":"?color=red","hash":"","title":"Red runner - Footfall Shop","referrer":"https://www.example.org/search?q=runners"}',
    ',"session":{"landing_page":"https://shop.example.com/?utm_source=news","initial_referrer":"https://www.example.org/","utm_source":"news"}',
    ',"context":{"screen":{"width":1920,"height":1080},"viewport":{"width":1280,"height":720},"language":"en-GB","time_zone":"Europe/London"}',
  })
  local records = {}
  for index = 1, batch_size do
    records[index] = table.concat({
      '{"kind":"event","event_id":"', nonce .. scrambled_hex(thread_number, 0x5bd1e995) .. scrambled_hex(request_number, 0x1b873593) .. scrambled_hex(index, 0x27d4eb2f),
      '","type":"click","name":"click","time":', string.format("%d", clock + index), shared,
      ',"target":', TARGET_JSON[(request_number + index) % #TARGET_JSON + 1], '}',
    })
  end
  local body = table.concat({
    '{"app_id":"', app_id, '","sent_at":', string.format("%d", clock),
    ',"library":"footfall-web/0.1.0","records":[', table.concat(records, ","), ']}',
  })
  local headers = {["Content-Type"] = "text/plain;charset=UTF-8", ["User-Agent"] = user_agent}
  return wrk.format("POST", "/api/ingest", headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  last_answer_ms = now_ms()
  if status ~= 200 then
    failed = failed + 1
    return
  end
  ok = ok + 1
  accepted = accepted + tonumber(body:match('"accepted":%s*(%d+)'))
  duplicates = duplicates + tonumber(body:match('"duplicates":%s*(%d+)'))
  if not body:match('"rejected":%s*%[%]') then
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, key in ipairs(COUNTS) do
    totals[key] = 0
  end
  local first, last = nil, nil
  for _, thread in ipairs(threads) do
    for _, key in ipairs(COUNTS) do
      totals[key] = totals[key] + thread:get(key)
    end
    local sent, answered = thread:get("first_sent_ms"), thread:get("last_answer_ms")
    if sent ~= nil and (first == nil or sent < first) then first = sent end
    if answered ~= nil and (last == nil or answered > last) then last = answered end
  end
  local fields = {}
  for key, value in pairs(totals) do
    table.insert(fields, string.format('"%s":%d', key, value))
  end
  table.insert(fields, string.format('"busy_ms":%.1f', (last or 0) - (first or 0)))
  table.insert(fields, string.format('"p50_ms":%.2f', latency:percentile(50) / 1000))
  table.insert(fields, string.format('"p99_ms":%.2f', latency:percentile(99) / 1000))
  table.insert(fields, string.format('"max_ms":%.2f', latency.max / 1000))
  local errors = summary.errors
  table.insert(fields, string.format('"socket_errors":%d',
    errors.connect + errors.read + errors.write + errors.timeout))
  io.write("ingest-load {" .. table.concat(fields, ",") .. "}\n")
end
