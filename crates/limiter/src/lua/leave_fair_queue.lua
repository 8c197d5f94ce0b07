-- leave_fair_queue.lua: a waiter gives up (its wait deadline passed on the caller's side).
-- Prepended with prelude.lua and fair_queue.lua.
--
-- KEYS[1] fair queue   KEYS[2] fair queue alive   KEYS[3] fair queue info
-- ARGV[1] lease id
--
-- Returns 2 integers: 1 removed 0/1   2 now (unix ms)

local queued = redis.call('ZSCORE', KEYS[1], ARGV[1])
forget_waiter(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
local removed = 0
if queued then
  removed = 1
end
return { removed, now }
