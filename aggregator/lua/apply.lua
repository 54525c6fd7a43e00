-- Applies a step's shared attribution state writes (state.ts isShared), each idempotent. ARGV[1] is how many touches a list
-- keeps; KEYS[i] is write i's key, and the rest of ARGV holds the writes in order, each as its kind
-- and its fields:
--   'touch', lifetime (ms), oldest time kept, length to cut at, lines: APPEND the touch lines; once
--            the list is longer than that length, cut it to its newest distinct lines, as many as
--            kept, none older than that time (layout: state.ts)
--   'click', lifetime (ms), value: SET
--   'flood', lifetime (ms), limit, n, then n members: SADD each while the set holds fewer than limit
-- Each key's lifetime starts again (PEXPIRE).
local kept = tonumber(ARGV[1])

-- The newest `kept` distinct lines of a touch list not older than `oldest`, oldest first.
local function cut(list, oldest)
  local lines, seen = {}, {}
  for line in string.gmatch(list, '[^\n]+') do
    local time = tonumber(string.match(line, '^%S+'))
    if time >= oldest and not seen[line] then
      seen[line] = true
      lines[#lines + 1] = { time, line }
    end
  end
  table.sort(lines, function(a, b) return a[1] > b[1] end)
  local out = {}
  for i = math.min(#lines, kept), 1, -1 do out[#out + 1] = lines[i][2] .. '\n' end
  return table.concat(out)
end

local at = 2
for _, key in ipairs(KEYS) do
  local kind, ttl = ARGV[at], ARGV[at + 1]
  if kind == 'touch' then
    if redis.call('APPEND', key, ARGV[at + 4]) > tonumber(ARGV[at + 3]) then
      redis.call('SET', key, cut(redis.call('GET', key), tonumber(ARGV[at + 2])))
    end
    redis.call('PEXPIRE', key, ttl)
    at = at + 5
  elseif kind == 'click' then
    redis.call('SET', key, ARGV[at + 2], 'PX', ttl)
    at = at + 3
  else
    local room, n = tonumber(ARGV[at + 2]) - redis.call('SCARD', key), tonumber(ARGV[at + 3])
    for i = at + 4, at + 3 + n do
      if room <= 0 then break end
      room = room - redis.call('SADD', key, ARGV[i])
    end
    redis.call('PEXPIRE', key, ttl)
    at = at + 4 + n
  end
end
return #KEYS
