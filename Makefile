# tide -- build, test, bench, lint, install.
#   make            build/tide (the binary) and build/lib/tide/core.so (the module)
#   make test       the whole suite: deps, database servers, specs, sanitizers
#   make bench      benchmarks under bench/
#   make lint       luacheck
CC      ?= cc
LUA     ?= lua5.4
PKGS    := lua5.4 sqlite3 libpq
CFLAGS  ?= -O2 -g
# Truncating into the fixed buffers of an error record is intended.
WARN    := -std=c11 -Wall -Wextra -Werror -Wno-format-truncation -D_POSIX_C_SOURCE=200809L
CPPFLAGS += $(shell pkg-config --cflags $(PKGS) 2>/dev/null || echo -I/usr/include/lua5.4)
CPPFLAGS += -DTIDE_WITH_PG -DTIDE_WITH_MYSQL $(shell pkg-config --cflags libmariadb 2>/dev/null)
DRIVER_LIBS := -pthread -lsqlite3 -lpq $(shell pkg-config --libs libmariadb 2>/dev/null || echo -lmariadb)
# The binary opens libpq and libmariadb on first use (src/lazylib.c).
BIN_LIBS := -pthread -lsqlite3 -ldl
BUILD   ?= build

CORE_SRC := src/core.c src/conn.c src/stmt.c src/error.c src/url.c src/sys.c \
            src/describe.c src/driver_sqlite.c src/sqlite_create.c \
            src/driver_pg.c src/placeholders.c src/driver_mysql.c src/cancel.c src/json.c
LUA_SRC  := $(shell find lua -name '*.lua' | sort)
HDRS     := src/tide.h

all: $(BUILD)/tide $(BUILD)/lib/tide/core.so

$(BUILD)/embedded.c: scripts/embed.lua $(LUA_SRC)
	@mkdir -p $(BUILD)
	$(LUA) scripts/embed.lua $@ $(LUA_SRC)

# The binary alone has line editing (repl.c, libedit) for `tide repl`.
$(BUILD)/tide: src/main.c src/repl.c src/lazylib.c $(CORE_SRC) $(BUILD)/embedded.c $(HDRS)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Isrc -o $@ src/main.c src/repl.c src/lazylib.c $(CORE_SRC) \
	  $(BUILD)/embedded.c -llua5.4 $(BIN_LIBS) -ledit $(LDFLAGS)

# The module takes Lua's symbols from the interpreter that loads it.
$(BUILD)/lib/tide/core.so: $(CORE_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -fPIC -shared -o $@ $(CORE_SRC) $(DRIVER_LIBS) $(LDFLAGS)

test:
	scripts/test.sh

# Specs only, against whatever build/ holds (used by scripts/test.sh).
spec: all
	$(LUA) /usr/bin/busted

bench: all
	bench/run

lint:
	luacheck lua spec bench scripts

clean:
	rm -rf build

.PHONY: all test spec bench lint clean
