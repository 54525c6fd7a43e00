-- Claims a batch's events: KEYS[i] is event i's claim key, ARGV[1] the claims' lifetime (ms) and
-- ARGV[i + 1] event i's claim value. A key already set is left as it is. Returns, per event, the
-- value that was there ('' when this call claimed it).
local ttl = ARGV[1]
local previous = {}
for i, key in ipairs(KEYS) do
  previous[i] = redis.call('SET', key, ARGV[i + 1], 'PX', ttl, 'NX', 'GET') or ''
end
return previous
