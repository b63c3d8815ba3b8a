-- wrk script for Tools/bench-ingest: each wrk thread posts 100-point batches (100 channels of one
-- device at one t) to its own device; t grows by one per request so every point is a new row.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  agri = os.getenv("AGRI_" .. id)
  base = 1600000000 + id * 10000000
  storm = os.getenv("STORM") == "1"
  oneSeries = os.getenv("ONE_SERIES") == "1"
end

-- STORM=1: the usual 100 channels at t, but channel 001 reads 30.5 at t and 25.0 again at t+1 (101 points: a sensor
-- flapping around a 29.85 maximum): with the alarm on, every request opens an alert and resolves it.
local function stormRequest()
  counter = counter + 1
  local t = base + counter * 2
  local parts = {}
  for i = 1, 100 do
    local value = i == 1 and "30.5" or string.format("%d.5", (counter + i) % 1000)
    parts[i] = string.format('{"agri_id":"%s-%03d","value":%s,"t":%d}', agri, i, value, t)
  end
  parts[101] = string.format('{"agri_id":"%s-001","value":25.0,"t":%d}', agri, t + 1)
  return wrk.format("POST", os.getenv("PATH_" .. id), nil, "[" .. table.concat(parts, ",") .. "]")
end

function request()
  if storm then return stormRequest() end
  if oneSeries then
    -- ONE_SERIES=1: 100 points of channel 001 at 100 consecutive seconds.
    counter = counter + 1
    local t = base + counter * 100
    local parts = {}
    for i = 1, 100 do
      parts[i] = string.format('{"agri_id":"%s-001","value":%d.5,"t":%d}', agri, (counter + i) % 1000, t + i - 1)
    end
    return wrk.format("POST", os.getenv("PATH_" .. id), nil, "[" .. table.concat(parts, ",") .. "]")
  end
  counter = counter + 1
  local t = base + counter
  local parts = {}
  for i = 1, 100 do
    parts[i] = string.format('{"agri_id":"%s-%03d","value":%d.5,"t":%d}', agri, i, (counter + i) % 1000, t)
  end
  return wrk.format("POST", os.getenv("PATH_" .. id), nil, "[" .. table.concat(parts, ",") .. "]")
end
