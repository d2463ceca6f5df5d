# alliance — PGXS build, plus the two commands of the README:
#   make test   install what is missing (Citus too, from ../shared/vendor when there), build
#               (warnings are errors), install, replay the fuzz corpora, run every
#               regression test (today and under two moved clocks)
#               and every TAP test, each on private clusters; as root too
#   make demo   the same set-up plus Graphviz and a CJK font, then a private cluster with
#               the sample alliance and a picture of its referral flows
#   make bench  the same set-up, then the benchmarks against plain-SQL baselines
#   make fuzz   libFuzzer on every parser (FUZZ_SECONDS per target, default 120)
#   make valgrind  the regression suite against a server run under valgrind
#   make soak   a fault-injecting referral workload (SOAK_SECONDS, default 600)
# and PGXS's own:
#   make && make install    build and install (warnings are warnings: -Werror only
#               with ALLIANCE_WERROR=1, which make test and the CI set)
#   make installcheck       the regression tests against the running server PGHOST/PGPORT
#               as PGUSER (a superuser: the tests create roles), with alliance installed
#               there and preloaded: shared_preload_libraries = 'alliance' (setup checks);
#               then the TAP tests, as make prove_installcheck
#   make prove_installcheck the TAP tests (test/t), each on clusters of its own from the
#               installed PostgreSQL of PG_CONFIG; not as root (initdb refuses it)
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

# Regression tests: test/sql/NAME.sql, compared with test/expected/NAME.out.
# setup comes first; every other test also runs after setup alone
# (test/run-tests.sh PG_CONFIG setup NAME).
REGRESS = setup tier icd10 enums referral bounds security routing contracts webhook indicators contract_indicators upgrade
REGRESS_OPTS = --inputdir=test

# TAP tests (PostgreSQL::Test::Cluster) live in test/t, not PGXS's default t/,
# with their module AllianceNode.pm (PG_PROVE_FLAGS below).
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

# libcurl sends the webhooks, as User-Agent alliance/<the version the control file installs>
PG_CPPFLAGS += $(shell curl-config --cflags 2>/dev/null)
PG_CPPFLAGS += -DALLIANCE_VERSION='"$(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" alliance.control)"'
SHLIB_LINK += $(shell curl-config --libs 2>/dev/null)

# The project's own C files are built with these warnings; they are errors with
# ALLIANCE_WERROR=1 (make test and the CI), not in a packager's plain make.
PG_CFLAGS += -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
ifeq ($(ALLIANCE_WERROR),1)
PG_CFLAGS += -Werror
endif
# the record of that choice (see .werror below)
EXTRA_CLEAN = .werror

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
PG_PROVE_FLAGS += -I $(srcdir)/test/t
endif

.PHONY: deps test demo demo-stop bench fuzz valgrind soak prove_installcheck FORCE

# PGXS defines prove_installcheck (the TAP tests against the installed
# PostgreSQL) for installcheck only; this makes it a target of its own.
prove_installcheck:
	$(prove_installcheck)

deps:
	test/install-deps.sh "$(PG_CONFIG)"

test: deps
	test/install-citus.sh "$(PG_CONFIG)"
	$(MAKE) all ALLIANCE_WERROR=1
	$(MAKE) install ALLIANCE_WERROR=1
	test/fuzz/fuzz.sh "$(PG_CONFIG)" replay
	test/run-tests.sh "$(PG_CONFIG)" $(REGRESS)

demo:
	test/install-deps.sh "$(PG_CONFIG)" demo
	$(MAKE) all
	$(MAKE) install
	demo/demo.sh start "$(PG_CONFIG)"

demo-stop:
	demo/demo.sh stop "$(PG_CONFIG)"

bench:
	test/install-deps.sh "$(PG_CONFIG)" bench
	$(MAKE) all
	$(MAKE) install
	test/bench/run.sh "$(PG_CONFIG)"

FUZZ_SECONDS ?= 120
fuzz:
	test/install-deps.sh "$(PG_CONFIG)" fuzz
	test/fuzz/fuzz.sh "$(PG_CONFIG)" $(FUZZ_SECONDS)

valgrind:
	test/install-deps.sh "$(PG_CONFIG)" valgrind
	$(MAKE) all
	$(MAKE) install
	test/valgrind/valgrind.sh "$(PG_CONFIG)" $(REGRESS)

SOAK_SECONDS ?= 600
soak:
	test/install-deps.sh "$(PG_CONFIG)" soak
	$(MAKE) all
	$(MAKE) install
	test/soak/soak.sh "$(PG_CONFIG)" $(SOAK_SECONDS)

sql/alliance--1.1--1.2.sql: $(sort $(wildcard sql/1.2/*.sql))
	cat $^ > $@

# every object depends on the project's headers (PGXS tracks no header dependencies)
$(OBJS): $(wildcard src/*.h)

# ... and on whether warnings are errors: .werror holds the last build's
# choice, rewritten (and the objects rebuilt) only when it changes, so that
# make test after a plain make does not keep objects built without -Werror.
werror := $(if $(filter 1,$(ALLIANCE_WERROR)),on,off)
.werror: FORCE
	@[ "$$(cat $@ 2>/dev/null)" = $(werror) ] || echo $(werror) >$@
$(OBJS): .werror
