# Event Horizon - build, run and test.
#
#   make            release build: bin/eh-api, bin/eh-worker, bin/eh-admin
#   make debug      the same with -g and AddressSanitizer + UBSan (build/asan/bin)
#   make deps       install what a fresh Debian 12 machine lacks (idempotent, as root)
#   make run        deps, build, local services, migrations, eh-api + eh-worker in the foreground
#   make test       deps, sanitizer build, fresh services, unit + integration tests
#   make bench      benchmarks under bench/ (print figures; not tests)
#   make compose-test  build the images and run the compose stack for real (podman)

MODE ?= release
BUILD := build/$(MODE)

CC ?= cc
STD := -std=c11
WARN := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wundef -Wpointer-arith \
        -Wshadow -Wvla
CPPFLAGS_BASE := -D_GNU_SOURCE -Icommon -MMD -MP
MODE_CFLAGS_release := -O2 -g
MODE_CFLAGS_asan := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
MODE_CFLAGS_tsan := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
MODE_CFLAGS := $(MODE_CFLAGS_$(MODE))
ifeq ($(MODE_CFLAGS),)
$(error MODE must be release, asan or tsan)
endif

# Evaluated lazily, so that `make run` on a fresh machine sees the libraries `deps` just installed.
COMMON_PKGS := librabbitmq libpq jansson libcrypto
API_PKGS := libmicrohttpd libwebsockets
PKG_CFLAGS = $(shell pkg-config --cflags $(COMMON_PKGS) $(API_PKGS) 2>/dev/null)
# common/s3.c waits on libs3's own curl multi handle (curl_multi_poll): it must call the libcurl that
# libs3 2.0 links, libcurl-gnutls.so.4 (package libcurl3-gnutls), not the one `pkg-config libcurl` names.
# Its headers come from libcurl4-openssl-dev: the same curl release, API and ABI.
COMMON_LIBS = $(shell pkg-config --libs $(COMMON_PKGS) 2>/dev/null) -ls3 -l:libcurl-gnutls.so.4 -lm -lpthread
API_LIBS = $(shell pkg-config --libs $(API_PKGS) 2>/dev/null)
TEST_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

ALL_CFLAGS = $(STD) $(WARN) $(MODE_CFLAGS) $(CPPFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(MODE_CFLAGS) $(LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
API_SRC := $(wildcard api/*.c api/*/*.c)
WORKER_SRC := $(wildcard worker/*.c)
UNIT_SRC := $(wildcard tests/unit/*_test.c)
ITEST_SRC := $(wildcard tests/integration/*_itest.c)
TESTSUPPORT_SRC := $(wildcard tests/support/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
API_OBJ := $(call obj,$(filter-out api/main.c,$(API_SRC)))
WORKER_OBJ := $(call obj,$(filter-out worker/main.c,$(WORKER_SRC)))
TESTSUPPORT_OBJ := $(call obj,$(TESTSUPPORT_SRC))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
ITEST_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(ITEST_SRC))

EH_API := $(BUILD)/bin/eh-api
EH_WORKER := $(BUILD)/bin/eh-worker

.PHONY: all debug tsan build build-tests deps run test test-only bench compose-test clean format-check config-table fuzz
.DEFAULT_GOAL := all

all:
	@$(MAKE) --no-print-directory MODE=release build
	@mkdir -p bin && cp -f build/release/bin/eh-api build/release/bin/eh-worker build/release/bin/eh-admin build/release/bin/eh bin/

debug:
	@$(MAKE) --no-print-directory MODE=asan build

tsan:
	@$(MAKE) --no-print-directory MODE=tsan build

build: $(EH_API) $(EH_WORKER)
build-tests: build $(UNIT_BIN) $(ITEST_BIN)

# Rebuild everything when the flags change (a sanitizer switched on, a new -D).
$(BUILD)/.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@
FORCE:

$(BUILD)/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	@rm -f $@ && ar rcs $@ $^
$(BUILD)/libapi.a: $(API_OBJ) $(BUILD)/.flags
	@rm -f $@ && ar rcs $@ $(API_OBJ) && ranlib $@
$(BUILD)/libworker.a: $(WORKER_OBJ) $(BUILD)/.flags
	@rm -f $@ && ar rcs $@ $(WORKER_OBJ) && ranlib $@
# Helpers shared by the unit and integration tests (tests/support/testutil.h).
$(BUILD)/libtestsupport.a: $(TESTSUPPORT_OBJ) $(BUILD)/.flags
	@rm -f $@ && ar rcs $@ $(TESTSUPPORT_OBJ) && ranlib $@

$(EH_API): $(BUILD)/api/main.o $(BUILD)/libapi.a $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(API_LIBS) $(COMMON_LIBS)

$(EH_WORKER): $(BUILD)/worker/main.o $(BUILD)/libworker.a $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(COMMON_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libtestsupport.a $(BUILD)/libapi.a $(BUILD)/libworker.a \
                  $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(API_LIBS) $(COMMON_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/integration/%.o $(BUILD)/libtestsupport.a $(BUILD)/libapi.a $(BUILD)/libworker.a \
                  $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(API_LIBS) $(COMMON_LIBS)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

test: deps
	@$(MAKE) --no-print-directory MODE=asan build-tests
	@scripts/test.sh

# The tests without the dependency check, for a quick loop on a machine that has them.
test-only:
	@$(MAKE) --no-print-directory MODE=asan build-tests
	@scripts/test.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory MODE=release build/release/bench/ws_clients
	@bench/run-all.sh

# bench/ws's WebSocket clients (not part of `build`).
$(BUILD)/bench/ws_clients: $(BUILD)/bench/ws/ws_clients.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs libwebsockets jansson) -lm

# libFuzzer harnesses (clang). New inputs go to the FIRST corpus folder: give a scratch one first,
#   build/fuzz/validate_fuzz -max_total_time=300 -artifact_prefix=/tmp/ /tmp/corpus tests/fuzz/corpus
FUZZ_CC ?= clang
build/fuzz/validate_fuzz: tests/fuzz/validate_fuzz.c common/validate.c common/json_scan.c common/timestamp.c \
                          common/level.c common/splitter.c worker/copy_row.c common/buf.c common/utf8.c \
                          common/validate.h common/json_scan.h common/timestamp.h common/level.h \
                          common/splitter.h worker/copy_row.h common/buf.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(STD) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
	    $(shell pkg-config --cflags jansson) -o $@ $(filter %.c,$^) $(shell pkg-config --libs jansson)

compose-test:
	@scripts/compose-test.sh

config-table: all
	@bin/eh-api --config-table

format-check:
	@scripts/format-check.sh

# ---- many jobs per worker (issue 16)
# The long worker fault run: 20 kill -9 at random points (make test runs the
# same tests with fewer kills), then the other worker fault tests.
.PHONY: fault bench-many-jobs
fault: deps
	@$(MAKE) --no-print-directory MODE=asan build-tests
	@EH_FAULT_KILLS=20 scripts/test.sh -k "test_worker_faults or test_worker_many"

bench-many-jobs: deps
	@bench/many_jobs/run.sh

# ---- identity, tenants, limits (issue 10)

# eh-admin: tenants and keys on the database (admin/main.c and common/ only).
EH_ADMIN := $(BUILD)/bin/eh-admin
build: $(EH_ADMIN)
$(EH_ADMIN): $(BUILD)/admin/main.o $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(COMMON_LIBS)

# ---- abuse and faults (issue 11)

# Hardening: stack canaries, position-independent executables (ASLR for the code too), the GOT made
# read-only after start (full RELRO). _FORTIFY_SOURCE (checked string and memory calls) needs -O1 or
# more and is left out of the sanitizer builds, whose interceptors do that job and dislike the _chk variants.
# libFuzzer harnesses (tests/fuzz/*_fuzz.c), each with its committed seed corpus (scripts/fuzz.sh maps them).
#   make fuzz                  builds every harness and runs each for FUZZ_SECONDS (60) at nice 19
#   make fuzz-ci               the same, 60 s each, two at a time (CI's two cores)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = $(STD) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon
FUZZ_BINS := build/fuzz/validate_fuzz build/fuzz/request_head_fuzz build/fuzz/sniff_fuzz build/fuzz/json_scan_fuzz \
             build/fuzz/multipart_fuzz
.PHONY: fuzz-build fuzz-ci
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BINS)
fuzz-ci: $(FUZZ_BINS)
	@FUZZ_SECONDS=60 FUZZ_JOBS=2 scripts/fuzz.sh $(FUZZ_BINS)
build/fuzz/request_head_fuzz: tests/fuzz/request_head_fuzz.c api/request_head.c api/request_head.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^)
build/fuzz/sniff_fuzz: tests/fuzz/sniff_fuzz.c api/util.c common/buf.c common/utf8.c api/api.h common/buf.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $(filter %.c,$^) $(shell pkg-config --libs jansson)
build/fuzz/json_scan_fuzz: tests/fuzz/json_scan_fuzz.c common/json_scan.c common/utf8.c common/json_scan.h \
                           common/utf8.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell pkg-config --cflags jansson) -o $@ $(filter %.c,$^) \
	    $(shell pkg-config --libs jansson)
build/fuzz/multipart_fuzz: tests/fuzz/multipart_fuzz.c api/multipart.c api/multipart.h common/eh.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^)

HARDEN_CFLAGS := -fstack-protector-strong -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
FORTIFY_release := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
ALL_CFLAGS += $(HARDEN_CFLAGS) $(FORTIFY_$(MODE))
ALL_LDFLAGS += $(HARDEN_LDFLAGS)

# Rewrites every C file as .clang-format says (format-check only reports).
.PHONY: format
format:
	@scripts/format-check.sh --fix

# ---- job API depth, OpenAPI (issue 12)
# The OpenAPI document is assembled into docs.o (.incbin), which the compiler's dependency files do not track.
$(BUILD)/api/docs.o: api/openapi.json
# The document passes Redocly's recommended rules (scripts/test.sh runs this too).
openapi-lint:
	@node_modules/.bin/redocly lint --format=stylish api/openapi.json

# ---- GraphQL (issue 13)
# The schema's SDL is embedded by gql_sdl.c (.incbin), which the compiler's dependency list does not see.
$(BUILD)/api/graphql/gql_sdl.o: api/graphql/schema.graphql
# libFuzzer harness of the parser, validator and executor; seed corpus from the conformance queries.
# Joins the harnesses that `make fuzz` / `make fuzz-ci` run (their recipes read FUZZ_BINS when they run).
FUZZ_BINS += build/fuzz/gql_fuzz
fuzz fuzz-build fuzz-ci: build/fuzz/gql_fuzz
GQL_CORE := api/graphql/gql_parse.c api/graphql/gql_schema.c api/graphql/gql_validate.c api/graphql/gql_execute.c \
            api/graphql/gql_sdl.c
build/fuzz/gql_fuzz: tests/fuzz/gql_fuzz.c $(GQL_CORE) common/utf8.c api/graphql/gql.h api/graphql/schema.graphql common/utf8.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Iapi/graphql $(shell pkg-config --cflags jansson) -o $@ $(filter %.c,$^) \
	    $(shell pkg-config --libs jansson) -lm

# ---- metrics, nginx, Prometheus (issue 14)

# bench/metrics: nanoseconds per counted request, whatever the machine's load (bench/metrics/run.sh runs it).
$(BUILD)/bench/metrics_cost: $(BUILD)/bench/metrics/metrics_cost.o $(BUILD)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(COMMON_LIBS)

# ---- clients: eh CLI and the web page (issue 15)

# bin/eh: the command line (cli/), the only binary linked with libcurl.
CLI_SRC := $(filter-out cli/main.c,$(wildcard cli/*.c))
CLI_OBJ := $(call obj,$(CLI_SRC))
CLI_LIBS = $(shell pkg-config --libs libcurl libwebsockets jansson 2>/dev/null) -lm
EH_CLI := $(BUILD)/bin/eh
CLI_UNIT_SRC := $(wildcard tests/unit/cli/*_test.c)
CLI_UNIT_BIN := $(patsubst tests/unit/cli/%_test.c,$(BUILD)/tests/cli_%_test,$(CLI_UNIT_SRC))

build: $(EH_CLI)
build-tests: $(CLI_UNIT_BIN)

$(BUILD)/libcli.a: $(CLI_OBJ) $(BUILD)/.flags
	@rm -f $@ && ar rcs $@ $(CLI_OBJ) && ranlib $@
$(EH_CLI): $(BUILD)/cli/main.o $(BUILD)/libcli.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CLI_LIBS)
$(CLI_UNIT_BIN): $(BUILD)/tests/cli_%_test: $(BUILD)/tests/unit/cli/%_test.o $(BUILD)/libcli.a
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(CLI_LIBS)

# The web page (api/web/) is compiled into eh-api: a generated C source holds every file, its
# content type and ETag, so the binary serves it with no path to find at run time.
WEB_FILES := $(sort $(wildcard api/web/*.html api/web/*.css api/web/*.js api/web/*.svg))
WEB_GEN := $(BUILD)/gen/web_assets.c
API_OBJ += $(BUILD)/gen/web_assets.o
$(BUILD)/libapi.a: $(BUILD)/gen/web_assets.o
$(WEB_GEN): $(WEB_FILES) scripts/embed-web.sh
	@mkdir -p $(@D)
	scripts/embed-web.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/web_assets.o: $(WEB_GEN) $(BUILD)/.flags
	$(CC) $(ALL_CFLAGS) -Iapi -c $< -o $@

# ---- the upload's own multipart parser (api/multipart.c; its harness is build/fuzz/multipart_fuzz)
# MiB/s over a 256 MiB body in 64 KiB chunks:
#   make MODE=release build/release/bench/multipart_bench && build/release/bench/multipart_bench
$(BUILD)/bench/multipart_bench: $(BUILD)/bench/multipart_bench.o $(BUILD)/api/multipart.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
