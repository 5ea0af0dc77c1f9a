-- One user's sliding-window usage limiter (business-rules §5), run atomically by Redis.
--
-- KEYS  1 marker: the epoch of a state rebuilt from the ledger (missing: rebuild first)
--       2 entries: zset exchange id -> admission time (ms)      3 entry data: id -> "eff:free:img:cost"
--       4 state: window cuts and totals, the period and its totals
--       5 open reservations: id -> "ts:exp:eff:free:img:cost:cap"   6 dirty: a change missed a rebuild
-- ARGV  1 operation: admit | commit | release | usage | load      2 now (ms, the caller's clock)
--
-- Each window keeps the total of its committed entries and a cut (entries at or before it have left);
-- a call moves the cut forward and subtracts only what left since the last call, so an admission
-- costs O(what changed), not O(entries). Open reservations are few and are added on every read.
-- Amounts are integers in Lua doubles (exact below 2^53): tokens, milliseconds, nano-USD.

local KM, KE, KD, KS, KR, KX = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local WIN = {3600000, 10800000, 43200000, 86400000, 604800000, 2592000000}
local NW = #WIN
local HUGE = math.huge
local op = ARGV[1]
local now = tonumber(ARGV[2])

-- The limits in deny order (kind: m messages, t tokens, c cost; window: nil = the period; scope).
-- Must match billing/rules.py LIMITS.
local LIMITS = {{'t', nil, 'paid'}, {'t', nil, 'free'}, {'c', nil, 'all'}}
for i = 1, NW do
  LIMITS[#LIMITS + 1] = {'m', i, 'all'}
  LIMITS[#LIMITS + 1] = {'t', i, 'all'}
end
LIMITS[#LIMITS + 1] = {'m', 6, 'free'}
LIMITS[#LIMITS + 1] = {'t', 6, 'free'}
LIMITS[#LIMITS + 1] = {'m', 4, 'image'}
LIMITS[#LIMITS + 1] = {'m', 5, 'image'}
LIMITS[#LIMITS + 1] = {'m', 6, 'image'}
-- state field holding each (kind, scope) total per window
local TOTAL = {m = {all = 'm', free = 'f', image = 'i'}, t = {all = 't', free = 'g'}}

local function fmt(x) return string.format('%.0f', x) end

local function nums(text)
  local out = {}
  for part in string.gmatch(text, '[^:]+') do out[#out + 1] = tonumber(part) end
  return out
end

local function join(list)
  local parts = {}
  for j = 1, #list do parts[j] = fmt(list[j]) end
  return table.concat(parts, ':')
end

-- floor(a / b) for integers (b > 0), corrected for the rounding of the float division
local function fdiv(a, b)
  local q = math.floor(a / b)
  while q * b > a do q = q - 1 end
  while (q + 1) * b <= a do q = q + 1 end
  return q
end
local function cdiv(a, b) return -fdiv(-a, b) end

local function chunks(list, size, fn)
  for b = 1, #list, size do
    local chunk = {}
    for j = b, math.min(b + size - 1, #list) do chunk[#chunk + 1] = list[j] end
    fn(chunk)
  end
end

local function in_scope(scope, free, img)
  return scope == 'all' or (scope == 'paid' and free == 0) or (scope == 'free' and free == 1)
    or (scope == 'image' and img == 1)
end

-- state ------------------------------------------------------------------------------------------

local function read_state()
  local flat = redis.call('HGETALL', KS)
  local s = {}
  for j = 1, #flat, 2 do s[flat[j]] = tonumber(flat[j + 1]) end
  return s
end

local function write_state(s)
  local args = {}
  for k, v in pairs(s) do
    args[#args + 1] = k
    args[#args + 1] = fmt(v)
  end
  redis.call('HSET', KS, unpack(args))
end

local function touch(ttl)
  for _, key in ipairs({KM, KE, KD, KS, KR}) do redis.call('PEXPIRE', key, ttl) end
end

-- e = {eff, free, img, cost}
local function add_window(s, i, e, sign)
  s['m' .. i] = s['m' .. i] + sign
  s['t' .. i] = s['t' .. i] + sign * e[1]
  if e[2] == 1 then
    s['f' .. i] = s['f' .. i] + sign
    s['g' .. i] = s['g' .. i] + sign * e[1]
  end
  if e[3] == 1 then s['i' .. i] = s['i' .. i] + sign end
end

local function add_period(s, e, sign)
  if e[2] == 1 then s.pf = s.pf + sign * e[1] else s.pt = s.pt + sign * e[1] end
  s.pc = s.pc + sign * e[4]
end

local function each_entry(ids, fn)
  chunks(ids, 500, function(chunk)
    local vals = redis.call('HMGET', KD, unpack(chunk))
    for j = 1, #chunk do
      if vals[j] then fn(chunk[j], nums(vals[j])) end
    end
  end)
end

-- Move every window's cut to now - length, subtracting the entries that left; drop entries older
-- than the longest window. "now" never goes back: replicas' clocks may differ by a little.
local function advance(s)
  if s.now ~= nil and s.now > now then now = s.now end
  s.now = now
  for i = 1, NW do
    local cut = now - WIN[i]
    local old = s['c' .. i]
    if cut > old then
      local ids = redis.call('ZRANGEBYSCORE', KE, '(' .. fmt(old), fmt(cut))
      each_entry(ids, function(_, e) add_window(s, i, e, -1) end)
      s['c' .. i] = cut
    end
  end
  local last = fmt(s['c' .. NW])
  local gone = redis.call('ZRANGEBYSCORE', KE, '-inf', last)
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', KE, '-inf', last)
    chunks(gone, 500, function(chunk) redis.call('HDEL', KD, unpack(chunk)) end)
  end
end

-- A new period (a plan started, or the fallback after expiry) counts its totals from its start.
local function sync_period(s, ps)
  if s.ps ~= ps then
    s.ps, s.pt, s.pf, s.pc = ps, 0, 0, 0
    local ids = redis.call('ZRANGEBYSCORE', KE, fmt(ps), '+inf')
    each_entry(ids, function(_, e) add_period(s, e, 1) end)
  end
end

-- Open reservations; those past their time limit are released here (r = {ts, exp, eff, free, img, cost, cap}).
local function reservations()
  local flat = redis.call('HGETALL', KR)
  local list, expired = {}, {}
  for j = 1, #flat, 2 do
    local r = nums(flat[j + 1])
    if r[2] <= now then
      expired[#expired + 1] = flat[j]
    else
      r.id = flat[j]
      list[#list + 1] = r
    end
  end
  if #expired > 0 then redis.call('HDEL', KR, unpack(expired)) end
  return list
end

-- committed + reserved usage that limit k counts
local function used(s, res, k)
  local kind, w, scope = LIMITS[k][1], LIMITS[k][2], LIMITS[k][3]
  local u
  if w == nil then
    if kind == 'c' then u = s.pc elseif scope == 'paid' then u = s.pt else u = s.pf end
  else
    u = s[TOTAL[kind][scope] .. w]
  end
  for _, r in ipairs(res) do
    local inside
    if w == nil then inside = r[1] >= s.ps else inside = r[1] > s['c' .. w] end
    if inside and in_scope(scope, r[4], r[5]) then
      if kind == 'm' then u = u + 1 elseif kind == 't' then u = u + r[3] else u = u + r[6] end
    end
  end
  return u
end

-- Walk window w's entries and reservations in scope, oldest first, until their weight reaches
-- `needed`; answers the admission time of the one that reaches it (nil: never).
local function walk(s, res, w, scope, kind, needed)
  local cut = s['c' .. w]
  local rs = {}
  for _, r in ipairs(res) do
    if r[1] > cut and in_scope(scope, r[4], r[5]) then rs[#rs + 1] = r end
  end
  table.sort(rs, function(a, b) return a[1] < b[1] end)
  local ri, freed = 1, 0
  local function take(weight)
    freed = freed + weight
    return freed >= needed
  end
  local offset = 0
  while true do
    local page = redis.call('ZRANGEBYSCORE', KE, '(' .. fmt(cut), '+inf', 'WITHSCORES', 'LIMIT', offset, 200)
    if #page == 0 then break end
    local ids, scores = {}, {}
    for j = 1, #page, 2 do
      ids[#ids + 1] = page[j]
      scores[#scores + 1] = tonumber(page[j + 1])
    end
    local data = redis.call('HMGET', KD, unpack(ids))
    for j = 1, #ids do
      local ts = scores[j]
      while ri <= #rs and rs[ri][1] < ts do
        if take(kind == 'm' and 1 or rs[ri][3]) then return rs[ri][1] end
        ri = ri + 1
      end
      if data[j] then
        local e = nums(data[j])
        if in_scope(scope, e[2], e[3]) and take(kind == 'm' and 1 or e[1]) then return ts end
      end
    end
    offset = offset + 200
  end
  while ri <= #rs do
    if take(kind == 'm' and 1 or rs[ri][3]) then return rs[ri][1] end
    ri = ri + 1
  end
  return nil
end

-- ms until limit k has room for the smallest exchange: -2 period limits (the caller knows when the
-- period ends), -1 never by itself (the exchange alone is bigger than the limit)
local function retry_after(s, res, k, lim, u, num, den, prompt, minr)
  local kind, w, scope = LIMITS[k][1], LIMITS[k][2], LIMITS[k][3]
  if w == nil then return -2 end
  local deficit
  if kind == 'm' then
    deficit = u + 1 - lim
  else
    local need = cdiv((prompt + minr) * num, den)
    if need > lim then return -1 end
    deficit = u + need - lim
  end
  local ts = walk(s, res, w, scope, kind, deficit)
  if ts == nil then return -1 end
  return ts + WIN[w] - now
end

-- The tightest message window after this send: {limit, remaining, ms until a message frees up}.
local function rate_limit(s, res, L)
  local best, best_rem = nil, nil
  for k = 1, #LIMITS do
    local kind, w, scope = LIMITS[k][1], LIMITS[k][2], LIMITS[k][3]
    if kind == 'm' and scope == 'all' and L[k] > 0 then
      local rem = L[k] - used(s, res, k)
      if best == nil or rem < best_rem then best, best_rem = k, rem end
    end
  end
  if best == nil then return {-1, 0, 0} end
  local w = LIMITS[best][2]
  local oldest = walk(s, res, w, 'all', 'm', 1)
  local reset = 0
  if oldest ~= nil then reset = oldest + WIN[w] - now end
  if best_rem < 0 then best_rem = 0 end
  return {L[best], best_rem, reset}
end

local function stale()
  -- a change arrived while the state is being rebuilt: that rebuild must read the ledger again
  redis.call('SET', KX, '1', 'PX', 60000)
  return {'stale'}
end

-- The state as a whole, or nil when it must be rebuilt: no marker, or (an evicting Redis, which
-- billing should not be given) the marker without the state it vouches for.
local function valid_state()
  if redis.call('EXISTS', KM) == 0 then return nil end
  local s = read_state()
  if s.now == nil then return nil end
  return s
end

-- operations -------------------------------------------------------------------------------------

if op == 'admit' then
  -- 3 exchange id, 4 reservation ttl ms, 5 period start ms, 6 free 0/1, 7-8 multiplier num/den,
  -- 9 prompt tokens, 10 model's reply cap, 11 image 0/1, 12-13 nano-USD per prompt/completion
  -- token (-1 unknown), 14 smallest reply, 15 key ttl ms, 16.. limit values in LIMITS order
  local s = valid_state()
  if s == nil then return {'stale'} end
  local exid, ttl, ps = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  local free, num, den = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local prompt, model_max, img = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
  local pp, cp, minr, keys_ttl = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
  local L = {}
  for k = 1, #LIMITS do L[k] = tonumber(ARGV[15 + k]) end
  advance(s)
  sync_period(s, ps)
  local epoch = redis.call('GET', KM)
  if redis.call('ZSCORE', KE, exid) then
    write_state(s)
    return {'done'}
  end
  local res = reservations()
  for _, r in ipairs(res) do
    if r.id == exid then  -- the same admission asked again: answer what was reserved
      write_state(s)
      local rl = rate_limit(s, res, L)
      return {'ok', r[7], rl[1], rl[2], rl[3], epoch}
    end
  end
  local cap = model_max
  local prices = pp >= 0 and cp >= 0
  for k = 1, #LIMITS do
    local lim = L[k]
    local kind, scope = LIMITS[k][1], LIMITS[k][3]
    if lim > 0 and in_scope(scope, free, img) then
      local u = used(s, res, k)
      local allow, fails = HUGE, false
      if kind == 'm' then
        fails = u + 1 > lim
      elseif kind == 't' then
        -- the reply r must keep ceil((prompt + r) * num / den) within what is left
        if num > 0 then allow = fdiv((lim - u) * den, num) - prompt end
        fails = allow < minr
      elseif u >= lim then
        fails = true
      elseif prices then
        local room = lim - u - prompt * pp
        if cp > 0 then allow = fdiv(room, cp) elseif room < 0 then allow = -1 end
        fails = allow < minr
      end
      if fails then
        write_state(s)
        return {'deny', k, lim, u, retry_after(s, res, k, lim, u, num, den, prompt, minr)}
      end
      if allow < cap then cap = allow end
    end
  end
  local eff = 0
  if num > 0 then eff = cdiv((prompt + cap) * num, den) end
  local cost = 0
  if prices then cost = prompt * pp + cap * cp end
  local rec = {now, now + ttl, eff, free, img, cost, cap}
  redis.call('HSET', KR, exid, join(rec))
  rec.id = exid
  res[#res + 1] = rec
  write_state(s)
  touch(keys_ttl)
  local rl = rate_limit(s, res, L)
  return {'ok', cap, rl[1], rl[2], rl[3], epoch}

elseif op == 'commit' then
  -- 3 exchange id, 4 admission ms, 5 effective tokens, 6 free, 7 image, 8 cost, 9 key ttl.
  -- The period stays the one the last admission saw: if a new one has started since, the next
  -- admission recounts the period from the entries anyway.
  local s = valid_state()
  if s == nil then return stale() end
  local exid, ts = ARGV[3], tonumber(ARGV[4])
  local e = {tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])}
  advance(s)
  redis.call('HDEL', KR, exid)
  if redis.call('ZSCORE', KE, exid) then  -- committed before: a redelivered completion
    write_state(s)
    return {'dup'}
  end
  if ts > s['c' .. NW] then
    redis.call('ZADD', KE, fmt(ts), exid)
    redis.call('HSET', KD, exid, join(e))
    for i = 1, NW do
      if ts > s['c' .. i] then add_window(s, i, e, 1) end
    end
  end
  if ts >= s.ps then add_period(s, e, 1) end
  write_state(s)
  touch(tonumber(ARGV[9]))
  return {'ok'}

elseif op == 'release' then
  -- 3 exchange id
  if redis.call('EXISTS', KM) == 0 then return stale() end
  return {'ok', redis.call('HDEL', KR, ARGV[3])}

elseif op == 'usage' then
  -- 3 period start ms; answers {used, ms until it falls (-1 nothing to fall, -2 period)} per limit
  local s = valid_state()
  if s == nil then return {'stale'} end
  advance(s)
  sync_period(s, tonumber(ARGV[3]))
  local res = reservations()
  write_state(s)
  local out = {'ok'}
  for k = 1, #LIMITS do
    local kind, w, scope = LIMITS[k][1], LIMITS[k][2], LIMITS[k][3]
    local u = used(s, res, k)
    local reset = -2
    if w ~= nil then
      local oldest = nil
      if u > 0 then oldest = walk(s, res, w, scope, 'm', 1) end
      if oldest == nil then reset = -1 else reset = oldest + WIN[w] - now end
    end
    out[#out + 1] = u
    out[#out + 1] = reset
  end
  return out

elseif op == 'load' then
  -- 3 period start ms, 4 epoch, 5 key ttl ms, 6-8 period paid tokens / free tokens / cost,
  -- 9 number of entries, 10 number of open reservations, then per entry: id, admission ms, eff,
  -- free, img, cost; per open reservation: id, ts, exp, eff, free, img, cost, cap; then the ids of
  -- reservations the ledger says were released
  if redis.call('EXISTS', KX) == 1 then
    redis.call('DEL', KX)
    return {'retry'}
  end
  -- Reservations still open here are kept: an admission may have reserved on the state being
  -- replaced before its own row reached the ledger (a forced or concurrent rebuild).
  local kept = redis.call('HGETALL', KR)
  redis.call('DEL', KM, KE, KD, KS, KR)
  local s = {now = now, ps = tonumber(ARGV[3]), pt = tonumber(ARGV[6]), pf = tonumber(ARGV[7]),
             pc = tonumber(ARGV[8])}
  for i = 1, NW do
    s['c' .. i] = now - WIN[i]
    for _, f in ipairs({'m', 't', 'f', 'g', 'i'}) do s[f .. i] = 0 end
  end
  local n, m = tonumber(ARGV[9]), tonumber(ARGV[10])
  local at = 10
  for _ = 1, n do
    local exid, ts = ARGV[at + 1], tonumber(ARGV[at + 2])
    local e = {tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6])}
    if ts > s['c' .. NW] then
      redis.call('ZADD', KE, fmt(ts), exid)
      redis.call('HSET', KD, exid, join(e))
      for i = 1, NW do
        if ts > s['c' .. i] then add_window(s, i, e, 1) end
      end
    end
    at = at + 6
  end
  for _ = 1, m do
    local exid = ARGV[at + 1]
    local r = {}
    for j = 2, 8 do r[#r + 1] = tonumber(ARGV[at + j]) end
    if r[2] > now and not redis.call('ZSCORE', KE, exid) then redis.call('HSET', KR, exid, join(r)) end
    at = at + 8
  end
  local released = {}
  for j = at + 1, #ARGV do released[ARGV[j]] = true end
  for j = 1, #kept, 2 do
    local r = nums(kept[j + 1])
    if r[2] > now and not released[kept[j]] and not redis.call('ZSCORE', KE, kept[j]) then
      redis.call('HSETNX', KR, kept[j], kept[j + 1])
    end
  end
  write_state(s)
  redis.call('SET', KM, ARGV[4])
  touch(tonumber(ARGV[5]))
  return {'ok'}
end

return redis.error_reply('unknown limiter operation ' .. tostring(op))
