-- settle.lua: release a request's leases and turn its hold into the actual charge.
-- Idempotent: the hold is a hash field keyed by the lease id, so a second call finds
-- nothing and changes nothing. An async task's lease (no slot) is only in the async lease
-- set: removing it frees no slot.
--
-- KEYS[1] team lease set   KEYS[2] account lease set   KEYS[3] team budget (lease's period)
-- KEYS[4] account slot teams (hash account lease id -> team)   KEYS[5] team async lease set
-- ARGV[1] lease id   ARGV[2] actual charge   ARGV[3] period end (unix ms)
-- ARGV[4] budget key grace ms   ARGV[5] minimum budget key life ms
--
-- Returns 7 integers (packed: one string, comma-separated):
--  1 outcome (0 nothing to settle, 1 settled, 2 settled after the lease was reclaimed)
--  2 estimate that was held (0 unless outcome 1)   3 team lease removed 0/1
--  4 account lease removed 0/1   5 charged   6 held   7 now (unix ms)

local team_leases, account_leases, budget = KEYS[1], KEYS[2], KEYS[3]
local lease_id, actual = ARGV[1], tonumber(ARGV[2])
local period_end, grace, min_life = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local released_team = redis.call('ZREM', team_leases, lease_id)
local released_account = redis.call('ZREM', account_leases, lease_id)
redis.call('HDEL', KEYS[4], lease_id)
if released_team == 0 then
  -- A lease is in the team set or the async set, never both.
  redis.call('ZREM', KEYS[5], lease_id)
end

-- One read of the budget; the totals are then written back in one HSET (the script is
-- atomic, so nothing changes them in between).
local fields = redis.call('HMGET', budget, 'hold:' .. lease_id, 'reclaimed:' .. lease_id,
  'charged', 'held')
local charged, held = tonumber(fields[3]) or 0, tonumber(fields[4]) or 0
local outcome, estimate = 0, 0
if fields[1] then
  estimate = tonumber(fields[1])
  redis.call('HDEL', budget, 'hold:' .. lease_id)
  held = held - estimate
  outcome = 1
elseif fields[2] then
  redis.call('HDEL', budget, 'reclaimed:' .. lease_id)
  outcome = 2
end

if outcome ~= 0 then
  charged = charged + actual
  redis.call('HSET', budget, 'charged', int(charged), 'held', int(held))
  extend_until(budget, budget_expiry(period_end, grace, min_life))
end

return packed({ outcome, estimate, released_team, released_account, charged, held, now })
