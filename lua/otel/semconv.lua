-- OpenTelemetry semantic convention attribute keys, as constants.
--
--   local semconv = require "otel.semconv"
--   span:set_attribute(semconv.http.REQUEST_METHOD, "POST")
--
-- Names follow the current stable conventions (HTTP, URL, network,
-- server/client, exception, error, service); database, messaging and RPC
-- keys are given in their newest form, with the older key beside it where
-- instrumentations still commonly emit it (db.statement, db.system,
-- rpc.system).  Every group raises on an unknown name, so a typo fails
-- where it is written instead of sending an attribute named "nil".
local setmetatable = setmetatable
local tostring = tostring
local error = error

local _M = {}

local function group(name, keys)
    local where = "otel.semconv." .. name
    _M[name] = setmetatable(keys, {
        __index = function(_, k)
            error(where .. " has no " .. tostring(k), 2)
        end,
        __newindex = function()
            error(where .. " is read-only", 2)
        end,
    })
end

group("http", {
    REQUEST_METHOD = "http.request.method",
    REQUEST_METHOD_ORIGINAL = "http.request.method_original",
    REQUEST_RESEND_COUNT = "http.request.resend_count",
    -- prefixes: append "." and the lower-case header name
    REQUEST_HEADER = "http.request.header",
    RESPONSE_HEADER = "http.response.header",
    RESPONSE_STATUS_CODE = "http.response.status_code",
    ROUTE = "http.route",
    -- development (not yet stable)
    REQUEST_BODY_SIZE = "http.request.body.size",
    RESPONSE_BODY_SIZE = "http.response.body.size",
})

group("url", {
    FULL = "url.full",
    PATH = "url.path",
    QUERY = "url.query",
    SCHEME = "url.scheme",
    FRAGMENT = "url.fragment",
})

group("server", {
    ADDRESS = "server.address",
    PORT = "server.port",
})

group("client", {
    ADDRESS = "client.address",
    PORT = "client.port",
})

group("network", {
    PROTOCOL_NAME = "network.protocol.name",
    PROTOCOL_VERSION = "network.protocol.version",
    TRANSPORT = "network.transport",
    TYPE = "network.type",
    PEER_ADDRESS = "network.peer.address",
    PEER_PORT = "network.peer.port",
    LOCAL_ADDRESS = "network.local.address",
    LOCAL_PORT = "network.local.port",
})

group("user_agent", {
    ORIGINAL = "user_agent.original",
})

group("db", {
    SYSTEM_NAME = "db.system.name",
    SYSTEM = "db.system",               -- older name of db.system.name
    NAMESPACE = "db.namespace",
    COLLECTION_NAME = "db.collection.name",
    OPERATION_NAME = "db.operation.name",
    OPERATION_BATCH_SIZE = "db.operation.batch.size",
    QUERY_TEXT = "db.query.text",
    QUERY_SUMMARY = "db.query.summary",
    STATEMENT = "db.statement",         -- older name of db.query.text
    RESPONSE_STATUS_CODE = "db.response.status_code",
    STORED_PROCEDURE_NAME = "db.stored_procedure.name",
})

group("messaging", {
    SYSTEM = "messaging.system",
    OPERATION_NAME = "messaging.operation.name",
    OPERATION_TYPE = "messaging.operation.type",
    DESTINATION_NAME = "messaging.destination.name",
    DESTINATION_TEMPLATE = "messaging.destination.template",
    DESTINATION_PARTITION_ID = "messaging.destination.partition.id",
    DESTINATION_TEMPORARY = "messaging.destination.temporary",
    DESTINATION_ANONYMOUS = "messaging.destination.anonymous",
    CONSUMER_GROUP_NAME = "messaging.consumer.group.name",
    CLIENT_ID = "messaging.client.id",
    MESSAGE_ID = "messaging.message.id",
    MESSAGE_CONVERSATION_ID = "messaging.message.conversation_id",
    MESSAGE_BODY_SIZE = "messaging.message.body.size",
    BATCH_MESSAGE_COUNT = "messaging.batch.message_count",
})

group("rpc", {
    SYSTEM_NAME = "rpc.system.name",
    SYSTEM = "rpc.system",              -- older name of rpc.system.name
    SERVICE = "rpc.service",
    METHOD = "rpc.method",
    METHOD_ORIGINAL = "rpc.method_original",
    RESPONSE_STATUS_CODE = "rpc.response.status_code",
    GRPC_STATUS_CODE = "rpc.grpc.status_code",  -- older, an int
})

group("exception", {
    TYPE = "exception.type",
    MESSAGE = "exception.message",
    STACKTRACE = "exception.stacktrace",
})

group("error", {
    TYPE = "error.type",
})

group("service", {
    NAME = "service.name",
    VERSION = "service.version",
    NAMESPACE = "service.namespace",
    INSTANCE_ID = "service.instance.id",
})

group("deployment", {
    ENVIRONMENT_NAME = "deployment.environment.name",
    ENVIRONMENT = "deployment.environment",  -- older name
})

group("telemetry", {
    SDK_NAME = "telemetry.sdk.name",
    SDK_LANGUAGE = "telemetry.sdk.language",
    SDK_VERSION = "telemetry.sdk.version",
})

-- The module itself: an unknown group is an error too.
return setmetatable(_M, {
    __index = function(_, k)
        error("otel.semconv has no " .. tostring(k), 2)
    end,
    __newindex = function()
        error("otel.semconv is read-only", 2)
    end,
})
