-- lua-otel quickstart: one order through a checkout service.
--
--   make demo                      (or: luajit examples/quickstart.lua)
--
-- Prints every span as JSON, the way the OpenTelemetry Python SDK's
-- ConsoleSpanExporter does, then the trace as a waterfall.  To send it to
-- a collector instead, set exporter = "otlp" (the endpoint comes from
-- OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318): an option
-- given to otel.setup wins over the environment.
local otel = require "otel"
local semconv = require "otel.semconv"

local http, url = semconv.http, semconv.url
local server, db = semconv.server, semconv.db

otel.setup {
    service_name = "checkout",
    resource = { ["service.version"] = "1.4.0",
                 ["deployment.environment.name"] = "demo" },
    exporter = "console",
    console = { format = "both" },     -- json | tree | both
}

local tracer = otel.tracer("checkout.http", "1.4.0")

-- Stands in for real I/O, so that the waterfall has something to show.
local ffi = require "ffi"
pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
local function io_wait(ms)
    ffi.C.poll(nil, 0, ms)
end

local function validate(order)
    return tracer:start_as_current_span("validate order", nil,
        function(span)
            span:set_attribute("order.item_count", #order.items)
            io_wait(2)
        end)
end

local function reserve_stock(order)
    return tracer:start_as_current_span("reserve stock",
        { attributes = { ["stock.sku_count"] = #order.items } }, function()
        tracer:start_as_current_span("UPDATE inventory",
            { kind = otel.kind.CLIENT,
              attributes = { [db.SYSTEM_NAME] = "postgresql",
                             [db.OPERATION_NAME] = "UPDATE",
                             [db.COLLECTION_NAME] = "inventory" } },
            function(span)
                span:set_attributes {
                    [db.QUERY_TEXT] = "UPDATE inventory SET reserved = "
                        .. "reserved + $1 WHERE sku = ANY($2)",
                    [server.ADDRESS] = "db.internal",
                    [server.PORT] = 5432,
                }
                io_wait(6)
            end)
    end)
end

-- A step that fails: the scoped span records the exception, sets status
-- ERROR, ends, and raises the same error value again.
local function apply_coupon(order)
    return tracer:start_as_current_span("apply coupon",
        { attributes = { ["coupon.code"] = order.coupon } },
        function()
            io_wait(1)
            error({ type = "CouponExpired",
                    message = "coupon " .. order.coupon .. " expired" })
        end)
end

local function charge_card(order)
    return tracer:start_as_current_span("charge card",
        { kind = otel.kind.CLIENT,
          attributes = { [server.ADDRESS] = "payments.example.com",
                         ["payment.amount"] = order.total,
                         ["payment.currency"] = "EUR" } },
        function(span)
            io_wait(9)
            span:add_event("payment.authorized",
                           { ["payment.id"] = "pay_7Hq2",
                             ["card.brand"] = "visa" })
            return "pay_7Hq2"
        end)
end

-- The request handler: a SERVER span for the whole request.  Attributes
-- given at start are the ones a sampler sees.
local function post_orders(order)
    return tracer:start_as_current_span("POST /orders",
        { kind = otel.kind.SERVER,
          attributes = { [http.REQUEST_METHOD] = "POST",
                         [http.ROUTE] = "/orders" } },
        function(span)
            span:set_attribute(url.PATH, "/orders")
            span:set_attribute("order.id", order.id)
            span:set_attributes {
                [url.SCHEME] = "https",
                [semconv.user_agent.ORIGINAL] = "curl/8.5.0",
            }
            validate(order)
            reserve_stock(order)
            local ok, err = pcall(apply_coupon, order)
            if not ok then
                -- Handled here: the order goes on at full price.
                span:add_event("coupon.rejected",
                               { reason = err.message })
            end
            local payment = charge_card(order)
            span:set_attribute("payment.id", payment)
            span:set_attribute(http.RESPONSE_STATUS_CODE, 201)
            return 201
        end)
end

local status = post_orders {
    id = "ord-1042",
    items = { "sku-17", "sku-23", "sku-99" },
    coupon = "SPRING24",
    total = 59.90,
}

otel.shutdown()         -- exports what is queued and prints the waterfall

local s = otel.stats()
io.stderr:write(string.format(
    "POST /orders -> %d; %d spans started, %d exported, %d dropped\n",
    status, s.spans_started, s.spans_exported,
    s.spans_dropped_queue_full + s.spans_dropped_export_failed
    + s.spans_dropped_rejected + s.spans_dropped_shutdown))
