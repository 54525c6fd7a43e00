-- claim.lua: claims events by event_id and applies the state writes of each new claim, atomically
-- (a crash leaves an event either claimed with its writes, or untouched).
-- ARGV: prefix, claim TTL ms, then per event: event_id, claim value, n, then n writes of
--       (op, key, ttl ms, score, member):
--   touch: ZADD key score member; drop members older than score - ttl; PEXPIRE key ttl
--   click: SET key member PX ttl
--   flood: SADD key member; PEXPIRE key ttl
-- Keys travel in ARGV: the script needs a single Redis node (or one hash slot per prefix).
-- Returns, per event, the claim value that was already there ('' when this call made the claim).
local prefix, claimTtl = ARGV[1], ARGV[2]
local found = {}
local i = 3
while i <= #ARGV do
  local claimKey = prefix .. 'c:' .. ARGV[i]
  local n = tonumber(ARGV[i + 2])
  local w = i + 3
  local prev = redis.call('GET', claimKey)
  if prev then
    found[#found + 1] = prev
  else
    found[#found + 1] = ''
    redis.call('SET', claimKey, ARGV[i + 1], 'PX', claimTtl)
    for j = w, w + (n - 1) * 5, 5 do
      local op, key, ttl, score, member = ARGV[j], prefix .. ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4]
      if op == 'touch' then
        redis.call('ZADD', key, score, member)
        redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', tonumber(score) - tonumber(ttl)))
        redis.call('PEXPIRE', key, ttl)
      elseif op == 'click' then
        redis.call('SET', key, member, 'PX', ttl)
      else
        redis.call('SADD', key, member)
        redis.call('PEXPIRE', key, ttl)
      end
    end
  end
  i = w + n * 5
end
return found
