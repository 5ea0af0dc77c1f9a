-- One user's sliding-window usage limiter (business-rules §5), run atomically by Redis.
--
-- KEYS  1 marker: the epoch of a state rebuilt from the ledger (missing: rebuild first)
--       2 state: each window's lowest counted bucket and totals, the period and its totals
--       3 reservations: id -> "ts:exp:eff:free:img:cost:cap" while open, "hold" once committed
--       4 dirty: a change missed a rebuild
--       4 + w  window w's buckets: bucket index -> "messages:tokens:free messages:free tokens:images"
-- ARGV  1 operation: admit | commit | release | usage | load      2 now (ms, the caller's clock)
--       3 windows "length:bucket,…" (ms)   4 limits in deny order "kind:window:scope,…" (window 0:
--       the period), both from billing/rules.py, the one place they are defined;  5.. the operation's
--
-- A window counts committed usage in buckets (bucket b holds what was admitted in [b × size,
-- (b + 1) × size)) and counts every bucket that overlaps it, so it never counts less than the exact
-- sliding window: it admits no more, and frees at most one bucket later. A user's state is at most
-- 61 buckets per window whatever their usage. Each window keeps the total of its counted buckets and
-- the lowest one it counts; a call moves that forward and subtracts only the buckets that left, so an
-- admission costs O(what changed). Open reservations are few, kept exactly, and added on every read.
-- Amounts are integers in Lua doubles (exact below 2^53): tokens, milliseconds, nano-USD.

local KM, KS, KR, KX = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local HUGE = math.huge
local op = ARGV[1]
local now = tonumber(ARGV[2])
local WIN, SIZE = {}, {}
for len, size in string.gmatch(ARGV[3], '(%d+):(%d+)') do
  WIN[#WIN + 1] = tonumber(len)
  SIZE[#SIZE + 1] = tonumber(size)
end
local NW = #WIN
local LIMITS = {}  -- {kind: m messages | t tokens | c cost, window (0: the period), scope}
for kind, w, scope in string.gmatch(ARGV[4], '(%a):(%d+):(%a+)') do LIMITS[#LIMITS + 1] = {kind, tonumber(w), scope} end
local A = {}  -- the operation's own arguments
for j = 5, #ARGV do A[j - 4] = ARGV[j] end
-- a bucket's fields, and the state's total of each per window (m1, t1, f1, …)
local TOT = {'m', 't', 'f', 'g', 'i'}
local FIELD = {m = {all = 1, free = 3, image = 5}, t = {all = 2, free = 4}}

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

local function in_scope(scope, free, img)
  return scope == 'all' or (scope == 'paid' and free == 0) or (scope == 'free' and free == 1)
    or (scope == 'image' and img == 1)
end

local function bucket_key(w) return KEYS[4 + w] end
-- the lowest bucket window w counts at time t: its last millisecond is inside (t - length, t]
local function lowest(w, t) return fdiv(t - WIN[w] + 1, SIZE[w]) end
-- when bucket b of window w stops counting
local function frees(w, b) return (b + 1) * SIZE[w] + WIN[w] - 1 end

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
  redis.call('PEXPIRE', KM, ttl)
  redis.call('PEXPIRE', KS, ttl)
  redis.call('PEXPIRE', KR, ttl)
  for w = 1, NW do redis.call('PEXPIRE', bucket_key(w), ttl) end
end

-- an exchange {eff, free, img, cost} as bucket fields
local function as_bucket(e) return {1, e[1], e[2], e[2] * e[1], e[3]} end

-- add v to bucket b of window w, when the window still counts it
local function add_bucket(s, w, b, v)
  if b < s['lo' .. w] then return end
  local key, field = bucket_key(w), fmt(b)
  local old = redis.call('HGET', key, field)
  local c = old and nums(old) or {0, 0, 0, 0, 0}
  for f = 1, 5 do
    c[f] = c[f] + v[f]
    s[TOT[f] .. w] = s[TOT[f] .. w] + v[f]
  end
  redis.call('HSET', key, field, join(c))
end

local function add_period(s, e)
  if e[2] == 1 then s.pf = s.pf + e[1] else s.pt = s.pt + e[1] end
  s.pc = s.pc + e[4]
end

-- Move every window's lowest counted bucket to now's, subtracting the buckets that left and dropping
-- them. "now" never goes back: replicas' clocks may differ by a little.
local function advance(s)
  if s.now ~= nil and s.now > now then now = s.now end
  s.now = now
  for w = 1, NW do
    local lo, old = lowest(w, now), s['lo' .. w]
    if lo > old then
      local key = bucket_key(w)
      if lo - old > 64 then  -- past every bucket the window can hold (61): all of them left
        redis.call('DEL', key)
        for f = 1, 5 do s[TOT[f] .. w] = 0 end
      else
        local fields = {}
        for b = old, lo - 1 do fields[#fields + 1] = fmt(b) end
        local vals = redis.call('HMGET', key, unpack(fields))
        local gone = {}
        for j = 1, #fields do
          if vals[j] then
            local v = nums(vals[j])
            for f = 1, 5 do s[TOT[f] .. w] = s[TOT[f] .. w] - v[f] end
            gone[#gone + 1] = fields[j]
          end
        end
        if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
      end
      s['lo' .. w] = lo
    end
  end
end

-- Open reservations {ts, exp, eff, free, img, cost, cap, id}, and the set of committed ones still
-- remembered (a redelivered completion must not count twice); both drop out past their time limit,
-- and only the MARKS most recent commits are remembered, whatever the user's pace (a completion
-- redelivered after that is settled from the ledger).
local MARKS = 32
local function reservations()
  local flat = redis.call('HGETALL', KR)
  local list, done, marks, gone = {}, {}, {}, {}
  for j = 1, #flat, 2 do
    local r = nums(flat[j + 1])
    local exp = r[2] or r[1]
    if exp <= now then
      gone[#gone + 1] = flat[j]
    elseif #r == 1 then
      marks[#marks + 1] = {flat[j], r[1]}
    else
      r.id = flat[j]
      list[#list + 1] = r
    end
  end
  if #marks > MARKS then
    table.sort(marks, function(a, b) return a[2] > b[2] end)
    for j = MARKS + 1, #marks do gone[#gone + 1] = marks[j][1] end
  end
  for j = 1, math.min(#marks, MARKS) do done[marks[j][1]] = true end
  if #gone > 0 then redis.call('HDEL', KR, unpack(gone)) end
  return list, done
end

-- committed + reserved usage that limit k counts
local function used(s, res, k)
  local kind, w, scope = LIMITS[k][1], LIMITS[k][2], LIMITS[k][3]
  local u
  if w == 0 then
    if kind == 'c' then u = s.pc elseif scope == 'paid' then u = s.pt else u = s.pf end
  else
    u = s[TOT[FIELD[kind][scope]] .. w]
  end
  for _, r in ipairs(res) do
    local inside
    if w == 0 then inside = r[1] >= s.ps else inside = r[1] > now - WIN[w] end
    if inside and in_scope(scope, r[4], r[5]) then
      if kind == 'm' then u = u + 1 elseif kind == 't' then u = u + r[3] else u = u + r[6] end
    end
  end
  return u
end

-- Walk window w's buckets and reservations in scope in the order they stop counting, until their
-- weight reaches `needed`; answers when the one that reaches it stops counting (nil: never).
local function walk(s, res, w, scope, kind, needed)
  local rs = {}
  for _, r in ipairs(res) do
    if r[1] > now - WIN[w] and in_scope(scope, r[4], r[5]) then rs[#rs + 1] = r end
  end
  table.sort(rs, function(a, b) return a[1] < b[1] end)
  local fm, ft = FIELD.m[scope], FIELD.t[scope]
  local ri, freed = 1, 0
  local function take(weight)
    freed = freed + weight
    return freed >= needed
  end
  local function weight(r) if kind == 'm' then return 1 end return r[3] end
  -- a bucket ahead of now (another replica's clock ran ahead) still counts: read past now's
  local lo = s['lo' .. w]
  local hi = math.max(fdiv(now, SIZE[w]) + 2, lo + 63)
  local fields = {}
  for b = lo, hi do fields[#fields + 1] = fmt(b) end
  local vals = redis.call('HMGET', bucket_key(w), unpack(fields))
  for j = 1, #fields do
    if vals[j] then
      local v = nums(vals[j])
      if v[fm] > 0 then
        local at = frees(w, lo + j - 1)
        while ri <= #rs and rs[ri][1] + WIN[w] < at do
          if take(weight(rs[ri])) then return rs[ri][1] + WIN[w] end
          ri = ri + 1
        end
        if take(kind == 'm' and v[fm] or v[ft]) then return at end
      end
    end
  end
  while ri <= #rs do
    if take(weight(rs[ri])) then return rs[ri][1] + WIN[w] end
    ri = ri + 1
  end
  return nil
end

-- ms until limit k has room for the smallest exchange: -2 period limits (the caller knows when the
-- period ends), -1 never by itself (the exchange alone is bigger than the limit)
local function retry_after(s, res, k, lim, u, num, den, prompt, minr)
  local kind, w, scope = LIMITS[k][1], LIMITS[k][2], LIMITS[k][3]
  if w == 0 then return -2 end
  local deficit
  if kind == 'm' then
    deficit = u + 1 - lim
  else
    local need = cdiv((prompt + minr) * num, den)
    if need > lim then return -1 end
    deficit = u + need - lim
  end
  local at = walk(s, res, w, scope, kind, deficit)
  if at == nil then return -1 end
  return at - now
end

-- The tightest message window after this send: {limit, remaining, ms until a message frees up}.
local function rate_limit(s, res, L)
  local best, best_rem = nil, nil
  for k = 1, #LIMITS do
    local kind, w, scope = LIMITS[k][1], LIMITS[k][2], LIMITS[k][3]
    if kind == 'm' and w > 0 and scope == 'all' and L[k] > 0 then
      local rem = L[k] - used(s, res, k)
      if best == nil or rem < best_rem then best, best_rem = k, rem end
    end
  end
  if best == nil then return {-1, 0, 0} end
  local at = walk(s, res, LIMITS[best][2], 'all', 'm', 1)
  local reset = 0
  if at ~= nil then reset = at - now end
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
  -- 1 exchange id, 2 reservation ttl ms, 3 period start ms, 4 free 0/1, 5-6 multiplier num/den,
  -- 7 prompt tokens, 8 model's reply cap, 9 image 0/1, 10-11 nano-USD per prompt/completion
  -- token (-1 unknown), 12 smallest reply, 13 key ttl ms, 14.. limit values in LIMITS order
  local s = valid_state()
  if s == nil then return {'stale'} end
  local exid, ttl, ps = A[1], tonumber(A[2]), tonumber(A[3])
  local free, num, den = tonumber(A[4]), tonumber(A[5]), tonumber(A[6])
  local prompt, model_max, img = tonumber(A[7]), tonumber(A[8]), tonumber(A[9])
  local pp, cp, minr, keys_ttl = tonumber(A[10]), tonumber(A[11]), tonumber(A[12]), tonumber(A[13])
  local L = {}
  for k = 1, #LIMITS do L[k] = tonumber(A[13 + k]) end
  advance(s)
  write_state(s)
  -- a new period counts its totals from its start, which buckets cannot tell: the caller rebuilds
  if s.ps ~= ps then return {'period'} end
  local epoch = redis.call('GET', KM)
  local res, done = reservations()
  if done[exid] then return {'done'} end
  for _, r in ipairs(res) do
    if r.id == exid then  -- the same admission asked again: answer what was reserved
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
  touch(keys_ttl)
  local rl = rate_limit(s, res, L)
  return {'ok', cap, rl[1], rl[2], rl[3], epoch}

elseif op == 'commit' then
  -- 1 exchange id, 2 admission ms, 3 effective tokens, 4 free, 5 image, 6 cost, 7 key ttl,
  -- 8 first: 1 when this call wrote the ledger row, 9 how long a commit is remembered (ms).
  -- Counted once: the open reservation becomes a "committed" mark, which a redelivery finds. With
  -- neither (the reservation expired or was released first), only the call that wrote the ledger row
  -- counts it; any other cannot tell whether it was counted: 'unknown', the caller rebuilds.
  -- The period stays the one the last admission saw: if a new one has started since, the next
  -- admission rebuilds the state from the ledger anyway.
  local s = valid_state()
  if s == nil then return stale() end
  local exid, ts = A[1], tonumber(A[2])
  local e = {tonumber(A[3]), tonumber(A[4]), tonumber(A[5]), tonumber(A[6])}
  advance(s)
  local held = redis.call('HGET', KR, exid)
  local r = held and nums(held)
  if r and #r == 1 then  -- committed before: a redelivered completion
    write_state(s)
    return {'dup'}
  end
  if not r and A[8] ~= '1' then
    write_state(s)
    return {'unknown'}
  end
  local v = as_bucket(e)
  for w = 1, NW do add_bucket(s, w, fdiv(ts, SIZE[w]), v) end
  if ts >= s.ps then add_period(s, e) end
  local hold = now + tonumber(A[9])
  if r and r[2] > hold then hold = r[2] end
  redis.call('HSET', KR, exid, fmt(hold))
  reservations()  -- forget the oldest marks beyond MARKS
  write_state(s)
  touch(tonumber(A[7]))
  return {'ok'}

elseif op == 'release' then
  -- 1 exchange id; a committed exchange keeps its mark
  if redis.call('EXISTS', KM) == 0 then return stale() end
  local held = redis.call('HGET', KR, A[1])
  if held and #nums(held) > 1 then return {'ok', redis.call('HDEL', KR, A[1])} end
  return {'ok', 0}

elseif op == 'usage' then
  -- 1 period start ms; answers {used, ms until it falls (-1 nothing to fall, -2 period)} per limit
  local s = valid_state()
  if s == nil then return {'stale'} end
  advance(s)
  write_state(s)
  if s.ps ~= tonumber(A[1]) then return {'period'} end
  local res = reservations()
  local out = {'ok'}
  for k = 1, #LIMITS do
    local w, scope = LIMITS[k][2], LIMITS[k][3]
    local u = used(s, res, k)
    local reset = -2
    if w > 0 then
      local at = nil
      if u > 0 then at = walk(s, res, w, scope, 'm', 1) end
      if at == nil then reset = -1 else reset = at - now end
    end
    out[#out + 1] = u
    out[#out + 1] = reset
  end
  return out

elseif op == 'load' then
  -- 1 period start ms, 2 epoch, 3 key ttl ms, 4-6 period paid tokens / free tokens / cost,
  -- 7 number of open reservations, 8 number of committed exchanges to remember, then per window:
  -- its number of buckets, then per bucket: index, messages, tokens, free messages, free tokens,
  -- images; per open reservation: id, ts, exp, eff, free, img, cost, cap; per committed exchange:
  -- id, remembered until (ms); then the ids of reservations the ledger says were released
  if redis.call('EXISTS', KX) == 1 then
    redis.call('DEL', KX)
    return {'retry'}
  end
  -- Reservations still open here are kept: an admission may have reserved on the state being
  -- replaced before its own row reached the ledger (a forced or concurrent rebuild).
  local kept = redis.call('HGETALL', KR)
  redis.call('DEL', KM, KS, KR)
  for w = 1, NW do redis.call('DEL', bucket_key(w)) end
  local s = {now = now, ps = tonumber(A[1]), pt = tonumber(A[4]), pf = tonumber(A[5]), pc = tonumber(A[6])}
  for w = 1, NW do
    s['lo' .. w] = lowest(w, now)
    for f = 1, 5 do s[TOT[f] .. w] = 0 end
  end
  local m, c = tonumber(A[7]), tonumber(A[8])
  local at = 8
  for w = 1, NW do
    local n = tonumber(A[at + 1])
    at = at + 1
    for _ = 1, n do
      add_bucket(s, w, tonumber(A[at + 1]), {tonumber(A[at + 2]), tonumber(A[at + 3]), tonumber(A[at + 4]),
                                             tonumber(A[at + 5]), tonumber(A[at + 6])})
      at = at + 6
    end
  end
  local billed = {}
  local opened = {}
  for _ = 1, m do
    local r = {}
    for j = 2, 8 do r[#r + 1] = tonumber(A[at + j]) end
    if r[2] > now then opened[#opened + 1] = {A[at + 1], join(r)} end
    at = at + 8
  end
  for _ = 1, c do
    billed[A[at + 1]] = true
    if tonumber(A[at + 2]) > now then redis.call('HSET', KR, A[at + 1], A[at + 2]) end
    at = at + 2
  end
  for _, o in ipairs(opened) do
    if not billed[o[1]] then redis.call('HSET', KR, o[1], o[2]) end
  end
  reservations()  -- forget the oldest marks beyond MARKS
  local released = {}
  for j = at + 1, #A do released[A[j]] = true end
  for j = 1, #kept, 2 do
    local r = nums(kept[j + 1])
    if #r > 1 and r[2] > now and not released[kept[j]] and not billed[kept[j]] then
      redis.call('HSETNX', KR, kept[j], kept[j + 1])
    end
  end
  write_state(s)
  redis.call('SET', KM, A[2])
  touch(tonumber(A[3]))
  return {'ok'}
end

return redis.error_reply('unknown limiter operation ' .. tostring(op))
