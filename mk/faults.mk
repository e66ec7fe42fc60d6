# The fault campaign (test/faults, issue 8): included from the Makefile.
#   make faults SEED=<n> STEPS=<n> [MEMBERS=3|5] [ETCD=3.4|3.5|3.6] [FAULTS_FLAGS=...]
#       one seeded campaign; prints the table and the final line; a failing
#       run keeps its logs under build/faults/ and says how to replay it
#   make faults-short   the CI suite: the campaign's own tests and two short
#                       campaigns with fixed seeds (3 members on etcd 3.4,
#                       5 members on etcd 3.6), a few minutes
#   make faults-repro   the reproducers of what the campaign found (faults-short
#                       runs the three whose fault is the same at every run)
#   make faults-long    the long run: FAULTS_LONG_STEPS faults on each etcd
#                       version (3 members on 3.4 and 3.6, 5 on 3.5: see
#                       FAULTS_LONG_RUNS), summaries written to
#                       docs/faults-etcd<v>.md
# All of them need root (network namespaces, tmpfs mounts).

SEED         ?=
STEPS        ?= 20
MEMBERS      ?= 3
ETCD         ?= 3.6
FAULTS_FLAGS ?=
FAULTS_LONG_STEPS ?= 100
FAULTS_LONG_SEED  ?= 8
# version:members of each long campaign
FAULTS_LONG_RUNS  ?= 3.4:3 3.5:5 3.6:3
FAULTS_TEST_FLAGS ?= -count=1 -timeout 40m -p 1

FAULTS_CMD := build/faults-campaign

EXTRA_TEST_SUITES += faults-short

# The reproducers faults-short leaves to faults-repro (their fault differs
# from run to run, see test/faults/campaign_test.go): not run, so not counted
# as skipped either.
FAULTS_REPRO_ONLY := ^TestRepro(TruncatedWAL|CorruptWALRecord)$$

.PHONY: faults faults-short faults-repro faults-long $(FAULTS_CMD)

$(FAULTS_CMD):
	$(GO) build -o $@ ./test/faults/cmd/faults

faults: deps-etcd $(FAULTS_CMD) ## a seeded fault campaign: SEED= STEPS= MEMBERS=3|5 ETCD=3.4|3.5|3.6 (root)
	$(FAULTS_CMD) $(if $(SEED),-seed $(SEED)) -steps $(STEPS) -members $(MEMBERS) -etcd $(ETCD) $(FAULTS_FLAGS)

faults-short: deps-etcd $(TESTSUM) ## the campaign's tests and two short fixed-seed campaigns (3 and 5 members; root)
	@set -o pipefail; FAULTS_SHORT=1 go test -json $(FAULTS_TEST_FLAGS) -skip '$(FAULTS_REPRO_ONLY)' ./test/faults/ 2>&1 | $(call testsum,faults-short)

faults-repro: deps-etcd ## the reproducers of the bugs the campaign found (root)
	FAULTS_REPRO=1 go test -v $(FAULTS_TEST_FLAGS) -run '^TestRepro' ./test/faults/

faults-long: deps-etcd $(FAULTS_CMD) ## the long campaign on etcd 3.4, 3.5 and 3.6; summaries into docs/ (root)
	@mkdir -p docs; rc=0; \
	for run in $(FAULTS_LONG_RUNS); do \
		v=$${run%%:*}; m=$${run#*:}; \
		$(FAULTS_CMD) -seed $(FAULTS_LONG_SEED) -steps $(FAULTS_LONG_STEPS) -members $$m -etcd $$v \
			-summary docs/faults-etcd$$v.md $(FAULTS_FLAGS) || rc=1; \
	done; exit $$rc
