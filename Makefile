# lua-otel build.  `make test` and `make demo` install what they need on a
# fresh Debian machine (as root) before they build.

VERSION := $(shell sed -n 's/^\#define OTEL_VERSION_STRING "\(.*\)"/\1/p' src/otel.h)
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wshadow
ifeq ($(CI),true)
WARN    += -Werror
endif
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(OPT) $(WARN)
LIBS    := -lcurl -lprotobuf-c -lz -lpthread -lm
LUAJIT  ?= luajit
PREFIX  ?= /usr/local
LUA_LIBDIR ?= $(PREFIX)/lib/lua/5.1
LUA_SHAREDIR ?= $(PREFIX)/share/lua/5.1

SRCS    := $(wildcard src/*.c)
OBJS    := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB     := $(BUILD)/otel_core.so
STATIC  := $(BUILD)/libotel_core.a
CTESTS  := $(patsubst t/c/%.c,$(BUILD)/t/%,$(wildcard t/c/*.c))


.PHONY: c-tests
.PHONY: all deps test test-c test-lua test-nginx demo bench lint asan tsan \
        valgrind install clean proto proto-check fuzz soak

all: $(LIB) $(STATIC)

$(BUILD)/obj/%.o: src/%.c src/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# nodelete: the export thread may outlive the Lua state that loaded the
# library (a state closed without otel.shutdown()); unloading the code
# under it would crash the host.
$(LIB): $(OBJS)
	$(CC) -shared -Wl,-z,nodelete -o $@ $(OBJS) $(LDFLAGS) $(LIBS)

$(STATIC): $(OBJS)
	ar rcs $@ $(OBJS)

$(BUILD)/t/test_fuzz_regress: fuzz/*.c fuzz/*.h

$(BUILD)/t/%: t/c/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fvisibility=default -Isrc $< $(STATIC) $(LDFLAGS) \
	    $(LIBS) -o $@

# The multi-threaded host test embeds LuaJIT and shares the built library
# with the Lua states it runs.
LUAJIT_CFLAGS := $(shell pkg-config --cflags luajit 2>/dev/null)
LUAJIT_LIBS   := $(shell pkg-config --libs luajit 2>/dev/null)
$(BUILD)/t/test_lua_threads: t/c/test_lua_threads.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $(LUAJIT_CFLAGS) $< -L$(BUILD) -l:otel_core.so \
	    -Wl,-rpath,$(abspath $(BUILD)) $(LDFLAGS) $(LUAJIT_LIBS) \
	    -lpthread -o $@

deps:
	@sh tools/deps.sh

# Everything CI runs, summed into one closing line.
TEST_SUITES ?= proto lint c lua nginx asan tsan valgrind rock soak fuzz

test: deps
	@$(MAKE) --no-print-directory all
	@sh t/run.sh $(TEST_SUITES)

c-tests: $(CTESTS)

test-c: all
	@sh t/run.sh c

test-lua: all
	@sh t/run.sh lua

demo: deps
	@$(MAKE) --no-print-directory all
	@LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
	    $(LUAJIT) examples/quickstart.lua

bench: all
	@sh bench/run.sh

lint:
	@sh tools/lint.sh

# AddressSanitizer + UndefinedBehaviorSanitizer over the C tests and the
# busted suite (LuaJIT itself is not instrumented: the runtime is
# preloaded); ThreadSanitizer over the C tests (the exporter thread);
# valgrind memcheck over the busted suite.
asan tsan valgrind: all
	@sh t/run.sh $@

# libFuzzer, every target FUZZ_SECONDS each (CI runs 10 s each).
FUZZ_SECONDS ?= 300
fuzz:
	@sh fuzz/run.sh $(FUZZ_SECONDS)

# nginx under wrk against a slow collector; RSS, drops, drain.
SOAK_SECONDS ?= 60
soak: all
	@sh t/soak/run.sh $(SOAK_SECONDS)

proto:
	@sh tools/gen-proto.sh

proto-check:
	@sh tools/gen-proto.sh --check

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR) $(DESTDIR)$(LUA_SHAREDIR)/otel/ngx
	install -m 0755 $(LIB) $(DESTDIR)$(LUA_LIBDIR)/otel_core.so
	install -m 0644 lua/otel.lua $(DESTDIR)$(LUA_SHAREDIR)/otel.lua
	install -m 0644 lua/otel/*.lua $(DESTDIR)$(LUA_SHAREDIR)/otel/
	install -m 0644 lua/otel/ngx/*.lua $(DESTDIR)$(LUA_SHAREDIR)/otel/ngx/

clean:
	rm -rf build build-asan build-tsan build-fuzz
