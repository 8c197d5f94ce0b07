-- set_charged.lua: set a period's charged total from the ledger. Mode 1 seeds (only if the
-- period has no charged total yet); mode 0 overwrites. Holds are never touched.
--
-- KEYS[1] team budget (period)
-- ARGV[1] charged   ARGV[2] mode 0 overwrite / 1 only if absent   ARGV[3] period end (unix ms)
-- ARGV[4] budget key grace ms   ARGV[5] minimum budget key life ms
--
-- Returns 4 integers: 1 applied 0/1   2 charged   3 held   4 now (unix ms)

local budget = KEYS[1]
local charged, only_if_absent = ARGV[1], ARGV[2] == '1'
local period_end, grace, min_life = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local applied = 0
if only_if_absent then
  applied = redis.call('HSETNX', budget, 'charged', charged)
else
  redis.call('HSET', budget, 'charged', charged)
  applied = 1
end
if applied == 1 then
  extend_until(budget, budget_expiry(period_end, grace, min_life))
end

local position = redis.call('HMGET', budget, 'charged', 'held')
return { applied, tonumber(position[1]) or 0, tonumber(position[2]) or 0, now }
