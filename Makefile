# tide -- build, test, bench, lint, install.
#   make            build/tide (the binary) and build/lib/tide/core.so (the module)
#   make module     the module alone (what the rockspec builds)
#   make test       the whole suite: deps, database servers, specs, sanitizers
#   make bench      benchmarks under bench/
#   make lint       luacheck
#   make fuzz       libFuzzer harnesses under fuzz/, FUZZ_SECONDS each (clang)
#   make docs       regenerate docs/migrations.md, docs/cli.md, docs/tide.1 and
#                   docs/example-schema.svg
#   make install    build/tide, the Lua modules, tide/core.so, tide(1) and the
#                   completions under PREFIX (/usr/local), inside DESTDIR if set
#   make uninstall  removes them
#   make dist       build/dist/tide-VERSION.tar.gz and tide-VERSION-1.rockspec
CC      ?= cc
LUA     ?= lua5.4
PKGS    := lua5.4 sqlite3 libpq
CFLAGS  ?= -O2 -g
# Truncating into the fixed buffers of an error record is intended.
WARN    := -std=c11 -Wall -Wextra -Werror -Wno-format-truncation -D_POSIX_C_SOURCE=200809L
CPPFLAGS += $(if $(LUA_INCDIR),-I$(LUA_INCDIR)) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null || echo -I/usr/include/lua5.4)
CPPFLAGS += -DTIDE_WITH_PG -DTIDE_WITH_MYSQL $(shell pkg-config --cflags libmariadb 2>/dev/null)
DRIVER_LIBS := -pthread -lsqlite3 -lpq $(shell pkg-config --libs libmariadb 2>/dev/null || echo -lmariadb)
# The binary opens libpq and libmariadb on first use (src/lazylib.c).
BIN_LIBS := -pthread -lsqlite3 -ldl
BUILD   ?= build

CORE_SRC := src/core.c src/conn.c src/stmt.c src/error.c src/url.c src/sys.c \
            src/value.c src/describe.c src/lock.c src/driver_sqlite.c src/sqlite_create.c src/sqlite_schema.c \
            src/sqlite_lock.c src/driver_pg.c src/pg_cursor.c src/placeholders.c src/driver_mysql.c src/cancel.c \
            src/json.c \
            src/interrupt.c src/process.c
LUA_SRC  := $(shell find lua -name '*.lua' | sort)
HDRS     := src/tide.h src/sqlite_driver.h

all: $(BUILD)/tide $(BUILD)/lib/tide/core.so

module: $(BUILD)/lib/tide/core.so

$(BUILD)/embedded.c: scripts/embed.lua $(LUA_SRC)
	@mkdir -p $(BUILD)
	$(LUA) scripts/embed.lua $@ $(LUA_SRC)

# The binary alone has line editing (repl.c; libedit, opened by `tide repl`).
$(BUILD)/tide: src/main.c src/repl.c src/lazylib.c $(CORE_SRC) $(BUILD)/embedded.c $(HDRS)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Isrc -o $@ src/main.c src/repl.c src/lazylib.c $(CORE_SRC) \
	  $(BUILD)/embedded.c -llua5.4 $(BIN_LIBS) $(LDFLAGS)

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
	luacheck lua spec bench scripts migrations

# Parsers of untrusted text under libFuzzer with ASan+UBSan: each harness
# starts from its committed corpus (fuzz/corpus/NAME, reproducers kept
# there) and writes what it finds to build/fuzz/new-NAME.
FUZZ_SECONDS ?= 8
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -g -O1 \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZERS      := url placeholders sqlite_create pg_cursor

$(BUILD)/fuzz/url: fuzz/url_fuzz.c src/url.c src/error.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -Isrc -o $@ fuzz/url_fuzz.c src/error.c -llua5.4

$(BUILD)/fuzz/placeholders: fuzz/placeholders_fuzz.c src/placeholders.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -Isrc -o $@ fuzz/placeholders_fuzz.c src/placeholders.c

$(BUILD)/fuzz/pg_cursor: fuzz/pg_cursor_fuzz.c src/pg_cursor.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -Isrc -o $@ fuzz/pg_cursor_fuzz.c src/pg_cursor.c

$(BUILD)/fuzz/sqlite_create: fuzz/sqlite_create_fuzz.c src/sqlite_create.c src/sqlite_driver.h $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -Isrc -o $@ fuzz/sqlite_create_fuzz.c src/sqlite_create.c

fuzz: $(FUZZERS:%=$(BUILD)/fuzz/%)
	@for f in $(FUZZERS); do \
	  mkdir -p $(BUILD)/fuzz/new-$$f; \
	  if $(BUILD)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	       -artifact_prefix=$(BUILD)/fuzz/$$f- $(BUILD)/fuzz/new-$$f fuzz/corpus/$$f \
	       > $(BUILD)/fuzz/$$f.log 2>&1; then \
	    echo "fuzz $$f: $$(grep -o 'number_of_executed_units: *[0-9]*' $(BUILD)/fuzz/$$f.log | \
	      grep -o '[0-9]*$$') runs in $(FUZZ_SECONDS) s, clean"; \
	  else \
	    tail -40 $(BUILD)/fuzz/$$f.log; \
	    echo "fuzz $$f: FAILED (log: $(BUILD)/fuzz/$$f.log, input: $(BUILD)/fuzz/$$f-*)"; exit 1; \
	  fi; \
	done

# What the rockspec installs (luarocks passes LUADIR and LIBDIR).
rock-install: module
	@test -n "$(LUADIR)" && test -n "$(LIBDIR)" || { echo "rock-install: LUADIR and LIBDIR are luarocks'"; exit 2; }
	mkdir -p $(LIBDIR)/tide
	cp $(BUILD)/lib/tide/core.so $(LIBDIR)/tide/core.so
	cd lua && for f in $$(find tide -name '*.lua'); do mkdir -p $(LUADIR)/$$(dirname $$f) && cp $$f $(LUADIR)/$$f; done

# Generated from tide itself; spec/docs_spec.lua checks they are current
# (the SVG, drawn by Graphviz, only when it is installed).
docs: all
	$(BUILD)/tide run scripts/gen_docs.lua docs

# make install PREFIX=... DESTDIR=...: see scripts/install.sh
PREFIX  ?= /usr/local
# $(call shq,TEXT): TEXT as one shell word, whatever quotes it holds
shq = '$(subst ','\'',$(1))'
INSTALL_VARS = $(foreach v,BUILD PREFIX DESTDIR BINDIR LUA_LMOD LUA_CMOD MANDIR BASHCOMPDIR ZSHCOMPDIR,\
               $(if $($(v)),$(v)=$(call shq,$($(v)))))
COMPLETIONS := $(BUILD)/completion/tide.bash $(BUILD)/completion/_tide

$(BUILD)/completion/tide.bash: $(BUILD)/tide
	@mkdir -p $(dir $@)
	$(BUILD)/tide completion bash > $@

$(BUILD)/completion/_tide: $(BUILD)/tide
	@mkdir -p $(dir $@)
	$(BUILD)/tide completion zsh > $@

install: all $(COMPLETIONS)
	@$(INSTALL_VARS) scripts/install.sh install

uninstall:
	@$(INSTALL_VARS) scripts/install.sh uninstall

# DIST_DIR (build/dist) gets the tarball and its rockspec; DIST_URL=https://...
# names where the tarball will be published (default: beside the rockspec).
dist:
	@BUILD=$(call shq,$(BUILD)) DIST_URL=$(call shq,$(DIST_URL)) $(if $(DIST_DIR),DIST_DIR=$(call shq,$(DIST_DIR))) scripts/dist.sh

clean:
	rm -rf build

.PHONY: all module rock-install test spec bench lint docs clean fuzz install uninstall dist
