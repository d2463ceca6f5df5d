# alliance — PGXS build, plus the two commands of the README:
#   make test   install what is missing (Citus too, from ../shared/vendor when there), build,
#               install, replay the fuzz corpora, run every regression and TAP test
#   make demo   the same set-up, then a private cluster with the sample alliance
#   make bench  the same set-up, then the benchmarks against plain-SQL baselines
#   make fuzz   libFuzzer on every parser (FUZZ_SECONDS per target, default 120)
#   make valgrind  the regression suite against a server run under valgrind
#   make soak   a fault-injecting referral workload (SOAK_SECONDS, default 600)
#
# The PostgreSQL development files may not be installed yet when `make test`
# or `make demo` start, so PGXS is included only when it exists; those targets
# install it first and then run the rest in a sub-make that can include it.

EXTENSION = alliance
MODULE_big = alliance
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = sql/alliance--1.0.sql sql/alliance--1.0--1.1.sql
# 1.2's upgrade script is assembled from one piece per concept, in name order
DATA_built = sql/alliance--1.1--1.2.sql
PGFILEDESC = "alliance - regional medical alliance"

# Regression tests, in sql/ and expected/; they share one database and run in this order.
REGRESS = setup tier icd10 enums referral bounds security routing contracts webhook indicators contract_indicators upgrade

# TAP tests (PostgreSQL::Test::Cluster) live in test/t, not PGXS's default t/.
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

# libcurl sends the webhooks
PG_CPPFLAGS += $(shell curl-config --cflags 2>/dev/null)
SHLIB_LINK += $(shell curl-config --libs 2>/dev/null)

# Warnings are errors for the project's own C files.
PG_CFLAGS += -Werror -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

.PHONY: deps test demo demo-stop bench fuzz valgrind soak

deps:
	test/install-deps.sh "$(PG_CONFIG)"

test: deps
	test/install-citus.sh "$(PG_CONFIG)"
	$(MAKE) all
	$(MAKE) install
	test/fuzz.sh "$(PG_CONFIG)" replay
	test/run-tests.sh "$(PG_CONFIG)" $(REGRESS)

demo: deps
	$(MAKE) all
	$(MAKE) install
	test/demo.sh start "$(PG_CONFIG)"

demo-stop:
	test/demo.sh stop "$(PG_CONFIG)"

bench:
	test/install-deps.sh "$(PG_CONFIG)" bench
	$(MAKE) all
	$(MAKE) install
	test/bench.sh "$(PG_CONFIG)"

FUZZ_SECONDS ?= 120
fuzz:
	test/install-deps.sh "$(PG_CONFIG)" fuzz
	test/fuzz.sh "$(PG_CONFIG)" $(FUZZ_SECONDS)

valgrind:
	test/install-deps.sh "$(PG_CONFIG)" valgrind
	$(MAKE) all
	$(MAKE) install
	test/valgrind.sh "$(PG_CONFIG)" $(REGRESS)

SOAK_SECONDS ?= 600
soak:
	test/install-deps.sh "$(PG_CONFIG)" soak
	$(MAKE) all
	$(MAKE) install
	test/soak.sh "$(PG_CONFIG)" $(SOAK_SECONDS)

sql/alliance--1.1--1.2.sql: $(sort $(wildcard sql/1.2/*.sql))
	cat $^ > $@

# every object depends on the project's headers (PGXS tracks no header dependencies)
$(OBJS): $(wildcard src/*.h)
