-- Loaded once by busted before the specs: the FFI binding can only be
-- declared once per Lua state.
local build = os.getenv("OTEL_BUILD") or "build"
package.cpath = build .. "/?.so;" .. package.cpath
require "otel"
