-- state_marker.lua: tells whether Redis kept its state since the previous call. The marker
-- key exists while Redis keeps its data (each call refreshes its TTL); a restart without
-- persistence, FLUSHDB or a failover to a replica that never saw it loses it.
--
-- KEYS[1] state marker   string  "1"
-- ARGV[1] marker ttl ms
--
-- Returns 2 integers: 1 the marker existed 0/1 (0: first call, or Redis lost its state)
--   2 now (unix ms)

local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return { existed, now }
