# Benchmarks (test/bench, issue 11): included from the Makefile.
#   make bench        the full run: the heal of a wiped member by etcd-rejoin
#                     and by the manual procedure (etcdctl, no pauses) at 0,
#                     64 and 512 MB, with 3 and 5 members, on etcd 3.4 and
#                     3.6, 5 alternating rounds each; a writer during heals;
#                     decision times; etcd-rejoin's cost over 10 minutes
#                     while healthy. Writes docs/benchmarks.md (the report),
#                     docs/benchmarks-heal.png (the plot) and
#                     docs/benchmarks.json (the raw results). Takes one to two
#                     hours on a 2-core machine. BENCH_FLAGS adds flags
#                     (build/bench -h lists them); re-render the report from
#                     the raw results with BENCH_FLAGS=-from-json=docs/benchmarks.json.
#   make bench-short  the CI suite: the bench's own tests and a small run
#                     (etcd 3.4, 3 members, 0 and 4 MB, 2 rounds each), a few
#                     minutes; it asserts nothing about times, and fails when
#                     a heal does not complete or a figure is missing.

BENCH_FLAGS      ?=
BENCH_TEST_FLAGS ?= -count=1 -timeout 20m -p 1
BENCH_CMD        := build/bench

EXTRA_TEST_SUITES += bench-short

.PHONY: bench bench-short $(BENCH_CMD)

$(BENCH_CMD):
	$(GO) build -o $@ ./test/bench/cmd/bench

bench: deps-etcd $(BIN) $(BENCH_CMD) ## the full benchmarks (hours); writes docs/benchmarks.md and its plot
	$(BENCH_CMD) -rejoin $(BIN) $(BENCH_FLAGS)

bench-short: deps-etcd $(TESTSUM) ## the benchmarks' tests and a small run on etcd 3.4 (a few minutes)
	@set -o pipefail; BENCH_SHORT=1 $(GO) test -json $(BENCH_TEST_FLAGS) ./test/bench/ 2>&1 | $(call testsum,bench-short)
