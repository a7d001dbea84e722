# The two commands: `make conformance` (the main job) and `make test` (the project's tests).
GO      ?= go
BANK    ?=
TAGS    ?=
OUT     ?= reports
FAULT   ?=
BIN     := bin/stetconform
# The PSU password of the reference bank served by `make bank` (loopback only), which
# fixtures/banks/reference.yaml reads; `stetconform bank` on loopback uses the same default
# (aspsp.LoopbackPSUPassword), so the two agree however the bank was started.
export REFERENCE_PSU_PASSWORD ?= loopback-reference-psu
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: conformance fleet test bench build bank certs vet clean

## conformance: run every feature against BANK (a bank profile), or the embedded reference bank
# The recipe ends with the run's own exit code (0 COMPLIANT, 1 NOT COMPLIANT, 2 SETUP ERROR,
# 3 COULD NOT FINISH, 4 INCOMPLETE), which make shows as "Error N". GNU make itself can only
# exit 0 or 2, so the line below names the outcome; a pipeline that needs the code itself
# calls bin/stetconform run (after make build).
conformance: build
	@./$(BIN) run $(if $(BANK),--bank '$(BANK)') $(if $(TAGS),--tags '$(TAGS)') --out '$(OUT)'; code=$$?; \
	case $$code in 0) ;; 1) o='NOT COMPLIANT' ;; 2) o='SETUP ERROR' ;; 3) o='COULD NOT FINISH' ;; 4) o='INCOMPLETE' ;; *) o='unexpected exit code' ;; esac; \
	if [ $$code -ne 0 ]; then echo "stetconform run exited $$code ($$o); make reports that as its own exit 2: bin/stetconform run gives the code itself" >&2; fi; \
	exit $$code

## fleet: run the bank profiles of BANKS (files, or folders of *.yaml) as one fleet, its index in OUT/fleet
# Exit code: the worst outcome of the banks (3 > 2 > 1 > 4 > 0, README "Many banks").
fleet: build
	@test -n '$(BANKS)' || { echo "make fleet BANKS='banks/ other.yaml': name the profiles" >&2; exit 2; }
	./$(BIN) fleet --out '$(OUT)/fleet' $(if $(TAGS),--tags '$(TAGS)') $(BANKS)

## test: the project's own tests (unit tests, the suites that prove the suite)
# First, alone, the whole runs whose measures depend on the machine being quiet: the PSU
# journeys a run costs at the bank (a machine busy compiling costs a journey or two more)
# a rate-limited bank's run and runs with 2 s lifetimes, side by side as they mostly wait.
# Then every other
# test, up to TEST_P test binaries at once (go test's default is one per CPU): the
# suites' packages (./suites, ./suites/faults, ./suites/browser, ./suites/hostile/part1..4) and
# ./internal/runner mostly wait, for a token to expire or a hostile bank to time out.
# ./suites/faults is named first so that it starts first: the fault matrix's runs take
# about a minute.
TEST_P     ?= 8
TEST_ALONE := ^(TestJourneysAtTheBank|TestRateLimitedBank|TestShortLifetimesAtACleanBank)$$
test:
	$(GO) vet ./...
	@mkdir -p bin && rm -f bin/fault-matrix.txt
	$(GO) test -count=1 -timeout 10m -run '$(TEST_ALONE)' ./internal/runner/
	STETCONFORM_MATRIX_OUT=$(CURDIR)/bin/fault-matrix.txt $(GO) test -p $(TEST_P) -count=1 -timeout 40m -skip '$(TEST_ALONE)' ./suites/faults ./...
	@cat bin/fault-matrix.txt 2>/dev/null || true

## bench: a whole run against the embedded bank (start included) beside its floor, a fleet of 20 banks beside 1
# One package at a time (-p 1): the benchmarks time waits and compare ratios, each on its own.
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 5x ./internal/runner/ ./internal/fleet/

## build: the CLI in bin/
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/stetconform

## bank: serve the reference bank on 127.0.0.1:8443 (FAULT=name breaks it); its profile goes to .pki/reference-bank.yaml
bank: build
	./$(BIN) bank --pki .pki --profile-out .pki/reference-bank.yaml $(if $(FAULT),--fault '$(FAULT)')

## certs: write a test PKI (QTSP root, bank server certificate, TPP QWACs) into .pki/
certs: build
	./$(BIN) certs --out .pki

vet:
	$(GO) vet ./...

clean:
	rm -rf bin .pki
	find reports -mindepth 1 ! -name .gitkeep -delete
