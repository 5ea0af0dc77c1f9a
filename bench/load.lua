-- wrk script of the MobixAI benchmark, driven by bench/loadgen.py:
--
--   wrk -s bench/load.lua <base url> -- <requests file> <samples file> <threads> [<count>]
--
-- Each line of the requests file is one prepared request, METHOD \t PATH \t COOKIE \t CSRF \t BODY
-- (COOKIE, CSRF and BODY may be empty). Thread k of <threads> takes lines k, k+threads, … and its
-- connections use them in turn, so concurrent sends land on different chat sessions.
--
-- Every request carries a unique X-Request-ID, which the gateway echoes: a response is matched to
-- the moment its request was written and timed *by status* (wrk's own histogram mixes 201s with
-- 409s and 429s). Each thread writes one "status microseconds" line per response (-1 when the
-- server did not echo the id) to <samples file>.<thread index>; C stdio flushes them when wrk exits.
-- (Threads cannot hand nested tables to done(): wrk 4.1's thread:get corrupts the Lua stack.)
-- done() prints wrk's own counts and histogram as "@@ …" lines.
--
-- With <count>, each thread makes exactly that many requests (delay() holds back any more) and
-- prints "@@ finished" once all have answered, so the caller can stop wrk without waiting out -d.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local clock = ffi.new("bench_timeval")

local function now_us()
  ffi.C.gettimeofday(clock, nil)
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_usec)
end

local function split_tabs(line)
  local fields, start = {}, 1
  while true do
    local tab = string.find(line, "\t", start, true)
    if not tab then
      fields[#fields + 1] = string.sub(line, start)
      return fields
    end
    fields[#fields + 1] = string.sub(line, start, tab - 1)
    start = tab + 1
  end
end

-- Main state: numbers the threads.
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

-- Thread state.
local prepared, cursor, started, sequence = {}, 0, {}, 0
local quota, issued, answered = nil, 0, 0
local samples = nil

function init(args)
  local threads = tonumber(args[3])
  local index = 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if index % threads == thread_index then
        local f = split_tabs(line)
        local headers = { Host = wrk.headers["Host"] }
        if f[3] ~= "" then headers["Cookie"] = f[3] end
        if f[4] ~= "" then headers["X-CSRFToken"] = f[4] end
        if f[5] ~= "" then headers["Content-Type"] = "application/json" end
        prepared[#prepared + 1] = { method = f[1], path = f[2], headers = headers, body = f[5] ~= "" and f[5] or nil }
      end
      index = index + 1
    end
  end
  samples = assert(io.open(args[2] .. "." .. thread_index, "w"))
  quota = tonumber(args[4])
  if quota == nil then
    delay = nil  -- unlimited: wrk sends back to back (it checks for delay() after init)
  end
end

function delay()
  if issued < quota then
    issued = issued + 1
    return 0
  end
  return 3600000
end

function request()
  cursor = cursor % #prepared + 1
  local r = prepared[cursor]
  sequence = sequence + 1
  local id = "b" .. thread_index .. "-" .. sequence
  r.headers["X-Request-ID"] = id
  started[id] = now_us()
  return wrk.format(r.method, r.path, r.headers, r.body)
end

function response(status, headers, body)
  local finished = now_us()
  local id = headers["x-request-id"] or headers["X-Request-ID"]
  local t0 = id and started[id]
  if t0 then
    started[id] = nil
    samples:write(status, " ", finished - t0, "\n")
  else
    samples:write(status, " -1\n")
  end
  answered = answered + 1
  if quota and answered == quota then
    samples:flush()
    io.write("@@ finished\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("@@ duration_us %d\n", summary.duration))
  io.write(string.format("@@ requests %d\n", summary.requests))
  io.write(string.format("@@ errors connect=%d read=%d write=%d status=%d timeout=%d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
  for _, p in ipairs({ 50, 90, 99 }) do
    io.write(string.format("@@ latency_us p%d %d\n", p, math.floor(latency:percentile(p))))
  end
end
