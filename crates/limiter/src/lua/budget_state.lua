-- budget_state.lua: a period's budget hash as stored, for the ledger reconciler. Read-only.
-- `held` and the holds are raw: holds of expired leases not yet reclaimed are included.
--
-- KEYS[1] team budget (period)   hash  seeded, charged, held, hold:<lease>, reclaimed:<lease>
-- no ARGV
--
-- Returns 4 integers, then one (lease id, estimate) pair per hold:
--   1 seeded 0/1   2 charged   3 held   4 now (unix ms)   5.. lease id (string), estimate

local fields = redis.call('HGETALL', KEYS[1])
local seeded, charged, held = 0, 0, 0
local holds = {}
for i = 1, #fields, 2 do
  local field, value = fields[i], fields[i + 1]
  if field == 'seeded' then
    seeded = 1
  elseif field == 'charged' then
    charged = tonumber(value) or 0
  elseif field == 'held' then
    held = tonumber(value) or 0
  elseif string.sub(field, 1, 5) == 'hold:' then
    holds[#holds + 1] = string.sub(field, 6)
    holds[#holds + 1] = tonumber(value) or 0
  end
end

local reply = { seeded, charged, held, now }
for _, item in ipairs(holds) do
  reply[#reply + 1] = item
end
return reply
