-- prelude.lua: prepended to every limiter script (concat! at compile time).
-- Time comes from the Redis server only; integers go back to Redis via int() so large
-- numbers never print in exponent form.
if redis.replicate_commands then
  redis.replicate_commands()
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function int(n)
  return string.format('%d', n)
end

-- A reply of integers as one string, joined by commas: the gateway's Redis client parses one
-- string in a fraction of the time an array of integers takes (reply.rs reads both).
local function packed(values)
  local fields = {}
  for i = 1, #values do
    fields[i] = int(values[i])
  end
  return table.concat(fields, ',')
end

-- Make `key` live at least `ms` more milliseconds (never shortens a TTL).
local function extend_ttl(key, ms)
  local current = redis.call('PTTL', key)
  if current < ms then
    redis.call('PEXPIRE', key, int(ms))
  end
end

-- Make `key` live at least until unix ms `at` (never shortens a TTL).
local function extend_until(key, at)
  local current = redis.call('PTTL', key)
  if current < 0 or now + current < at then
    redis.call('PEXPIREAT', key, int(at))
  end
end

-- The budget key lives until the period end + grace, and at least `min_ms` from now.
local function budget_expiry(ends_at, grace, min_ms)
  local at = ends_at + grace
  if at < now + min_ms then
    at = now + min_ms
  end
  return at
end
