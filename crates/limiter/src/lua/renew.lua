-- renew.lua: extend a live lease (team and, if held, account) to now + ttl.
-- A lease that has expired is not revived: its slot may already be someone else's.
--
-- KEYS[1] team lease set   KEYS[2] account lease set   KEYS[3] account slot teams (hash)
-- ARGV[1] lease id   ARGV[2] lease ttl ms   ARGV[3] holds account slot 0/1
-- ARGV[4] lease set margin ms
--
-- Returns 3 integers: 1 renewed 0/1   2 new expiry (unix ms, 0 if not renewed)   3 now

local team_leases, account_leases = KEYS[1], KEYS[2]
local lease_id, ttl = ARGV[1], tonumber(ARGV[2])
local holds_account_slot, margin = ARGV[3] == '1', tonumber(ARGV[4])

local function alive(key)
  local expiry = redis.call('ZSCORE', key, lease_id)
  return expiry and tonumber(expiry) > now
end

if not alive(team_leases) or (holds_account_slot and not alive(account_leases)) then
  return { 0, 0, now }
end

local expires_at = now + ttl
redis.call('ZADD', team_leases, 'XX', int(expires_at), lease_id)
extend_ttl(team_leases, ttl + margin)
if holds_account_slot then
  redis.call('ZADD', account_leases, 'XX', int(expires_at), lease_id)
  extend_ttl(account_leases, ttl + margin)
  extend_ttl(KEYS[3], ttl + margin)
end
return { 1, expires_at, now }
