-- decide.lua: checks (read-only) or charges (all or none) the sliding-window
-- counters of one message, in one round trip.
--
-- KEYS[i]   the counter hash of request i (a key may repeat: its costs add up)
-- ARGV[1]   "check" | "charge"
-- ARGV[2]   now in ms since the epoch, or "" to use Redis' TIME (tests pass a
--           simulated clock; then no PEXPIRE is set, as Redis' expiry clock
--           knows nothing of it)
-- ARGV[3]   "0"; tests only: "-1" counts one bucket too few, "1" one too
--           many (deliberately broken windows the property test must catch)
-- ARGV[4*i .. 4*i+3]  request i: window ms (W), bucket width ms (g, W/g in
--           [60, 100]), limit, cost
--
-- Hash fields: "<bucket start ms>" -> units; "sum" -> the sum of the bucket
-- fields; "last" -> the newest bucket start (never moves back).
-- The count at time t: every bucket starting at or after b - W, where
-- b = max(t - t mod g, last). That covers [b - W, t], a superset of the true
-- window (t - W, t] at most g longer: never over-admits.
--
-- Returns {1, bucket_1, ..., bucket_n}: admitted (and charged, for "charge");
--           bucket_i is the bucket start charged for request i
--      or {0, i, count, limit, retry_ms}: refused; i (1-based) is the first
--           request that does not fit, count its units before this message,
--           retry_ms when every refused cost fits again (-1: never, a cost
--           exceeds its limit)

local simulated = ARGV[2] ~= ''
local now
if simulated then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local offset = tonumber(ARGV[3]) or 0

local function int(x) return string.format('%d', x) end

-- Where a counter stands now, and which of its buckets no longer count.
local function stand(key, w, g)
  local b = now - math.fmod(now, g)
  -- One read for the common case: the bookkeeping and the current bucket.
  local h = redis.call('HMGET', key, 'last', 'sum', int(b))
  local last, sum, units = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if last and last > b then  -- the clock went back: stay in the newest bucket
    b = last
    units = tonumber(redis.call('HGET', key, int(b))) or 0
  end
  local first = b - w - offset * g
  local s = { key = key, w = w, g = g, bucket = b, first = first, sum = sum, count = 0,
              units = units, last = last, stale = {}, stale_units = 0, all_stale = false }
  if not last then return s end
  if last < first then
    s.all_stale, s.units = true, 0
    return s
  end
  -- The last write evicted everything before last - (b - first); what lies
  -- between that and first has gone stale since.
  local names = {}
  for start = last - (b - first), first - g, g do names[#names + 1] = int(start) end
  if #names > 0 then
    local values = redis.call('HMGET', key, unpack(names))
    for j = 1, #names do
      local v = tonumber(values[j])
      if v then
        s.stale[#s.stale + 1] = names[j]
        s.stale_units = s.stale_units + v
      end
    end
  end
  s.count = sum - s.stale_units
  return s
end

-- When `need` units fit under `limit` again, as buckets age out oldest first.
local function fits_at(s, need, limit)
  local names = {}
  for start = s.first, s.bucket, s.g do names[#names + 1] = int(start) end
  local values = redis.call('HMGET', s.key, unpack(names))
  local remaining = s.count
  for j = 1, #names do
    local v = tonumber(values[j])
    if v then
      remaining = remaining - v
      if remaining + need <= limit then
        return tonumber(names[j]) + (s.bucket - s.first) + s.g
      end
    end
  end
  return s.bucket + (s.bucket - s.first) + s.g
end

local standing, need, order = {}, {}, {}
local refused_at, refused_count, refused_limit
local latest_fit, never = now, false
for i = 1, #KEYS do
  local key, base = KEYS[i], 4 * i
  local w, g = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local limit, cost = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local s = standing[key]
  if not s then
    s = stand(key, w, g)
    standing[key], need[key] = s, 0
    order[#order + 1] = key
  end
  need[key] = need[key] + cost
  if s.count + need[key] > limit then
    if not refused_at then refused_at, refused_count, refused_limit = i, s.count, limit end
    if need[key] > limit then
      never = true
    else
      local t = fits_at(s, need[key], limit)
      if t > latest_fit then latest_fit = t end
    end
  end
end

if refused_at then
  local retry = -1
  if not never then retry = latest_fit - now end
  return { 0, refused_at, refused_count, refused_limit, retry }
end

local result = { 1 }
for i = 1, #KEYS do result[i + 1] = standing[KEYS[i]].bucket end
if ARGV[1] ~= 'charge' then return result end

for _, key in ipairs(order) do
  local s, units = standing[key], need[key]
  if units > 0 then
    local sum = s.sum
    if s.all_stale then
      redis.call('DEL', key)
      sum = 0
    elseif #s.stale > 0 then
      redis.call('HDEL', key, unpack(s.stale))
      sum = sum - s.stale_units
    end
    local b = int(s.bucket)
    redis.call('HSET', key, b, int(s.units + units), 'sum', int(sum + units), 'last', b)
    -- The key vanishes when its newest bucket stops counting; that moment
    -- only moves when a new bucket starts.
    if not simulated and s.last ~= s.bucket then
      redis.call('PEXPIRE', key, int(s.bucket + (s.bucket - s.first) + s.g - now))
    end
  end
end
return result
