-- Handlers of examples/nginx/nginx.conf.
-- luacheck: read_globals ngx
local otel = require "otel"
local otel_ngx = require "otel.ngx"

-- A tracer per instrumentation scope; creating it before otel.setup (at
-- module load, in the master) is fine.
local tracer = otel.tracer("shop.orders", "1.0.0")

local _M = {}

-- GET over a cosocket, with a CLIENT span and the trace context in the
-- request headers.  (lua-resty-http does the HTTP part in real code:
-- pass it `headers`.)
local function http_get(host, port, path)
    local url = "http://" .. host .. ":" .. port .. path
    local span, headers = otel_ngx.start_client("GET", url)
    local sock = ngx.socket.tcp()
    sock:settimeout(2000)
    local ok, err = sock:connect(host, port)
    if not ok then
        otel_ngx.finish_client(span, nil, err)
        return nil, err
    end
    local req = { "GET ", path, " HTTP/1.0\r\nHost: ", host, "\r\n" }
    for k, v in pairs(headers) do
        req[#req + 1] = k .. ": " .. v .. "\r\n"
    end
    req[#req + 1] = "\r\n"
    sock:send(req)
    local status_line
    status_line, err = sock:receive("*l")
    local status = status_line and tonumber(status_line:match(" (%d%d%d)"))
    local rest = sock:receive("*a")
    sock:close()
    otel_ngx.finish_client(span, status, err)
    return status, rest and rest:match("\r\n\r\n(.*)$")
end

local function price_of(id)
    -- a light thread: otel_ngx.spawn carries the current span into it
    return tracer:start_as_current_span("compute price",
        { attributes = { ["order.id"] = id } }, function()
            ngx.sleep(0.003)
            return 42.5
        end)
end

local function audit(premature, id)
    -- runs after the response, in a new trace linked to the request
    otel.context.current_span():update_name("audit order")
    tracer:start_as_current_span("write audit record",
        { attributes = { ["order.id"] = id,
                         ["timer.premature"] = premature } }, function()
            ngx.sleep(0.002)
        end)
end

function _M.show_order(id)
    -- the request span (current here, thanks to otel.ngx.phase)
    otel.context.current_span():set_attribute("order.id", id)

    local order = tracer:start_as_current_span("load order",
        { attributes = { ["order.id"] = id } }, function(span)
            ngx.sleep(0.005)             -- stands in for a database query
            span:add_event("cache miss")
            return { id = id, item = "book" }
        end)

    local price_thread = otel_ngx.spawn(price_of, id)
    local status, stock = http_get("127.0.0.1", ngx.var.server_port,
                                   "/inventory?item=" .. order.item)
    local _, price = ngx.thread.wait(price_thread)

    otel_ngx.timer_at(0, audit, id)

    ngx.say("order ", order.id, ": ", order.item, ", price ", price,
            ", stock ", status == 200 and stock or "unknown")
end

function _M.inventory()
    local n = tracer:start_as_current_span("count stock", nil, function()
        ngx.sleep(0.002)
        return 7
    end)
    ngx.print(n)
end

return _M
