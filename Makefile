# casebisect: build, tests, sanitizers, fuzzing and benchmarks.
#
#   make deps                          install missing Debian packages (apt-get)
#   make                               build ./casebisect
#   make test                          run every test (Criterion)
#   make test-slurm                    the Slurm launcher on a real local cluster (root)
#   make SANITIZE=address,undefined test   the same under ASan + UBSan
#   make fuzz [FUZZ_SECONDS=60]        libFuzzer on the classifier
#   make bench                         benchmarks (not tests; print ratios)
#   make test-nnunet                   real nnU-Net v2 from PyPI, end to end on the CPU
#   make WERROR=1 ...                  warnings are errors (CI)

CC         ?= cc
PKG_CONFIG ?= pkg-config
VERSION    := 0.1.0

# libhs is Hyperscan on amd64 and Vectorscan elsewhere; same API and .pc name.
PKGS       := libuv libcjson libhs libpcre2-8 libarchive cairo fontconfig
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN     := -std=c11 -Wall -Wextra -Wpedantic -Wmissing-prototypes -Wshadow \
            -Wstrict-prototypes -Wvla -Wformat=2
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Iinclude -DCASEBISECT_VERSION='"$(VERSION)"'
LDLIBS   += $(PKG_LIBS) -lpthread -lm -ldl
ifdef WERROR
WARN += -Werror
endif

ifdef SANITIZE
BUILD    := build-san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
BIN      := $(BUILD)/casebisect
else
BUILD    := build
SANFLAGS :=
BIN      := casebisect
endif

ALL_CFLAGS = $(WARN) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP

# `casebisect --version` names the commit when built from a git checkout
# ("0.1.0 (git f542f4d)"); a tarball without .git gives the version alone.
# $(BUILD)/version.h is rewritten only when its content changes, so a new
# commit rebuilds main.o and relinks, nothing else.
GIT_DESC := $(shell [ -e .git ] && git describe --always --dirty 2>/dev/null)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/src/%.o)
MAIN_OBJ := $(BUILD)/src/main.o
TEST_SRC := $(wildcard tests/test_*.c)
TEST_OBJ := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o)
TEST_BIN := $(BUILD)/tests/run-tests

NIFTI_CFLAGS := -I/usr/include/nifti
NIFTI_LIBS   := -lniftiio -lznz -lz -lm
# The audit module (src/audit_nifti.c) reads NIfTI-1 and NIfTI-2: libnifti2, whose
# API has libniftiio's names with wider types. Never link both into one program.
NIFTI2_LIBS  := -lnifti2 -lznz -lz -lm
CPPFLAGS     += $(NIFTI_CFLAGS)
LDLIBS       += $(NIFTI2_LIBS)

# Trainer-side helpers (harness/), the demo's dataset generator (examples/)
# and test fixtures, built with every build. The toy trainer's CUDA build
# needs nvcc (NVCC=... to choose one; none: only the CPU build).
NVCC         ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
HARNESS_BIN  := harness/faketrain examples/mkcases harness/toytrain $(if $(NVCC),harness/toytrain-cuda)
FAKE_CUDART  := $(BUILD)/tests/libfakecudart.so

# The man page: its commands' sections are made from each --help
# (docs/mkman.sh says why), rewritten only when the text changes; the page
# is committed, so a tarball has it without running anything.
MAN_PAGE     := docs/casebisect.1
COMPLETION   := docs/casebisect.bash-completion

.PHONY: all test test-slurm test-install test-torch test-nnunet deps fuzz bench clean install uninstall FORCE
all: $(BIN) $(HARNESS_BIN) $(MAN_PAGE)

harness/faketrain: harness/faketrain.c
	$(CC) $(CPPFLAGS) $(WARN) -O2 -g -o $@ $<

examples/mkcases: examples/mkcases.c
	$(CC) $(CPPFLAGS) $(WARN) -O2 -g $(NIFTI_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(NIFTI_LIBS) -lcjson

harness/toytrain: harness/toytrain.c
	$(CC) $(CPPFLAGS) $(WARN) -O2 -g $(NIFTI_CFLAGS) -o $@ $< $(NIFTI_LIBS)

harness/toytrain-cuda: harness/toytrain.cu harness/toytrain.c
	$(NVCC) -O2 -I/usr/include/nifti -o $@ harness/toytrain.cu $(NIFTI_LIBS)

# A stand-in libcudart for the gpu module's tests (no GPU on CI machines).
$(FAKE_CUDART): tests/fixtures/fakecudart.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) -O2 -g -fPIC -shared -o $@ $<

$(MAN_PAGE): $(BIN) docs/casebisect.1.in docs/mkman.sh
	docs/mkman.sh ./$(BIN) $(VERSION) docs/casebisect.1.in >$@.new
	@if cmp -s $@.new $@; then rm -f $@.new; touch $@; else mv -f $@.new $@; fi

$(BUILD)/version.h: FORCE
	@mkdir -p $(@D)
	@v='#define CASEBISECT_GIT "$(GIT_DESC)"'; \
	[ -f $@ ] && [ "$$(cat $@)" = "$$v" ] || echo "$$v" >$@

$(MAIN_OBJ): $(BUILD)/version.h
$(MAIN_OBJ): CPPFLAGS += -I$(BUILD)

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libcasebisect.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(MAIN_OBJ) $(BUILD)/libcasebisect.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(TEST_OBJ) $(BUILD)/libcasebisect.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# The corpus of real logs: ../shared/corpus when this checkout sits beside
# the project's shared folder, else the copy in tests/corpus.
CORPUS ?= $(firstword $(wildcard ../shared/corpus) tests/corpus)

# Criterion prints the summary line ("Synthesis: Tested: ...").
# The tests spawn the binary under test through CASEBISECT_BIN.
# CASEBISECT_TEST_SEED=N replays the randomized tests (they print the seed).
TEST_ENV = CASEBISECT_BIN=$(abspath $(BIN)) CASEBISECT_CORPUS=$(abspath $(CORPUS)) \
	   CASEBISECT_FAKE_CUDART=$(abspath $(FAKE_CUDART)) \
	   CASEBISECT_SRC=$(CURDIR) ASAN_OPTIONS=detect_leaks=1
# Every report.json the suite's runs write is kept (tests/test_helpers.c) and
# checked against the schema after the suite, in one python3.
TEST_REPORTS := $(BUILD)/test-reports
test: $(BIN) $(TEST_BIN) $(HARNESS_BIN) $(FAKE_CUDART) $(MAN_PAGE)
	rm -rf $(TEST_REPORTS) && mkdir -p $(TEST_REPORTS)
	$(TEST_ENV) CASEBISECT_TEST_REPORTS=$(abspath $(TEST_REPORTS)) $(TEST_BIN) --jobs 2
	python3 tests/validate-reports.py docs/report-schema.json $(TEST_REPORTS)
	$(MAKE) --no-print-directory test-install

# --launcher slurm against a real single-node Slurm cluster that each test
# brings up (tests/fixtures/slurm-up.sh: slurm-wlm and munge, as root);
# minutes, most of it waiting on slurmctld's timers. `make test` runs the
# same launcher against stand-ins for srun, squeue and scancel instead.
test-slurm: $(BIN) $(TEST_BIN) $(HARNESS_BIN) $(FAKE_CUDART)
	$(TEST_ENV) CASEBISECT_TEST_SLURM=1 $(TEST_BIN) --jobs 2 --filter 'slurm/*'

# libFuzzer: clang with -fsanitize=fuzzer,address,undefined (Debian's clang
# needs libclang-rt-14-dev), seeded from the corpus of real logs.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BIN     := build-fuzz/fuzz_classify
$(FUZZ_BIN): tests/fuzz/fuzz_classify.c src/classify.c src/util.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  $(PKG_CFLAGS) -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@mkdir -p build-fuzz/corpus
	cp -f $(CORPUS)/logs/* build-fuzz/corpus/
	cp -f tests/logs/*.log build-fuzz/corpus/
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -len_control=0 -timeout=10 \
	  -artifact_prefix=build-fuzz/ \
	  -rss_limit_mb=2048 -print_final_stats=1 build-fuzz/corpus

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=build/bench/%)
build/bench/%: bench/%.c bench/bench.h build/libcasebisect.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) -O2 -g $(PKG_CFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS)

bench:
	$(MAKE) SANITIZE= casebisect $(BENCH_BIN)
	@for b in $(BENCH_BIN); do CASEBISECT_CORPUS=$(abspath $(CORPUS)) \
	  CASEBISECT_BIN=$(abspath casebisect) $$b || exit 1; done

# Real PyTorch for the tests that run a real trainer (harness/torchtrain.py):
# Debian's CPU build (about 850 MB), under /usr/bin/python3 whatever python3
# comes first on PATH.
TORCH_PKGS := python3-torch python3-nibabel

# Debian packages this project builds and tests with. `make deps` installs only what
# is missing, and prints nothing when all is there.
ARCH     := $(shell dpkg --print-architecture 2>/dev/null)
HS_PKG   := $(if $(filter amd64,$(ARCH)),libhyperscan-dev,libvectorscan-dev)
DEB_PKGS := build-essential pkg-config libuv1-dev libcjson-dev libniftiio-dev \
            libnifti2-dev $(HS_PKG) libpcre2-dev libcriterion-dev clang \
            libclang-rt-14-dev libarchive-dev python3-jsonschema slurm-wlm munge \
            python3-venv groff-base libcairo2-dev libfontconfig-dev chromium \
            $(TORCH_PKGS)
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing >/dev/null || \
	  { echo "make deps: apt-get failed; install by hand:$$missing" >&2; exit 1; }; \
	fi

PREFIX ?= /usr/local
# The demo finds its helpers in PREFIX/libexec/casebisect/ (src/cmd_demo.c).
# uninstall removes exactly what install put, and the libexec folder.
INSTALLED_HELPERS := mkcases toytrain $(if $(NVCC),toytrain-cuda)
INSTALLED_SOURCES := harness/toytrain.c $(if $(NVCC),harness/toytrain.cu)
install: $(BIN) $(HARNESS_BIN) $(MAN_PAGE)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/casebisect \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/casebisect
	install -m 755 examples/mkcases harness/toytrain $(if $(NVCC),harness/toytrain-cuda) \
	  $(DESTDIR)$(PREFIX)/libexec/casebisect/
	@# toytrain's source beside it: a repro bundle carries it, so that repro.sh
	@# can rebuild toytrain on a machine where the binary does not run.
	install -m 644 $(INSTALLED_SOURCES) $(DESTDIR)$(PREFIX)/libexec/casebisect/
	install -d $(DESTDIR)$(PREFIX)/libexec/casebisect/nnunet
	install -m 755 harness/nnunet/casebisect-nnunet-train $(DESTDIR)$(PREFIX)/libexec/casebisect/nnunet/
	install -m 644 harness/nnunet/casebisect_nnunet_probe.py $(DESTDIR)$(PREFIX)/libexec/casebisect/nnunet/
	install -m 644 $(MAN_PAGE) $(DESTDIR)$(PREFIX)/share/man/man1/casebisect.1
	install -m 644 $(COMPLETION) $(DESTDIR)$(PREFIX)/share/bash-completion/completions/casebisect

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/casebisect \
	  $(DESTDIR)$(PREFIX)/share/man/man1/casebisect.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/casebisect \
	  $(addprefix $(DESTDIR)$(PREFIX)/libexec/casebisect/,$(INSTALLED_HELPERS)) \
	  $(addprefix $(DESTDIR)$(PREFIX)/libexec/casebisect/,$(notdir $(INSTALLED_SOURCES))) \
	  $(DESTDIR)$(PREFIX)/libexec/casebisect/nnunet/casebisect-nnunet-train \
	  $(DESTDIR)$(PREFIX)/libexec/casebisect/nnunet/casebisect_nnunet_probe.py
	rmdir $(DESTDIR)$(PREFIX)/libexec/casebisect/nnunet $(DESTDIR)$(PREFIX)/libexec/casebisect 2>/dev/null || true

# make install into a temporary DESTDIR, the installed tool run from
# outside the checkout, then make uninstall (tests/install.sh).
test-install: $(BIN) $(HARNESS_BIN) $(MAN_PAGE)
	tests/install.sh "$(MAKE)"

clean:
	rm -rf build build-san build-fuzz casebisect $(HARNESS_BIN)

-include $(shell find build build-san -name '*.d' 2>/dev/null)

# Real PyTorch, live: capture its CPU out-of-range-label errors with PYTHON
# (a python that has torch) and check they classify as cpu_index_error; then
# three DataLoader worker errors, which must give three kernel fingerprints,
# each naming the worker's raising function.
PYTHON ?= python3
test-torch: $(BIN)
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	PYTHON=$(PYTHON) tests/logs/capture-torch-cpu.sh "$$d" && \
	for f in "$$d"/*.log; do \
	  out=$$(./$(BIN) classify "$$f") || exit 1; echo "$$out"; \
	  case "$$out" in *": cpu_index_error "*) ;; *) echo "test-torch: $$f is not cpu_index_error" >&2; exit 1;; esac; \
	done && echo "test-torch: real PyTorch output classified as cpu_index_error" && \
	mkdir "$$d/dl" && PYTHON=$(PYTHON) tests/logs/capture-torch-dataloader.sh "$$d/dl" && \
	./$(BIN) classify "$$d"/dl/*.log >"$$d/dl.out" && cat "$$d/dl.out" && \
	[ "$$(grep -c ' frame=cases.py:\(read_label\|crop_patch\) ' "$$d/dl.out")" = 3 ] && \
	[ "$$(sed 's/.*fingerprint=//' "$$d/dl.out" | sort -u | wc -l)" = 3 ] || \
	  { echo "test-torch: DataLoader worker errors not told apart by their raising frame" >&2; exit 1; }; \
	echo "test-torch: three DataLoader worker errors, three fingerprints"

# Real nnU-Net v2 and PyTorch from PyPI in a virtual environment made once per
# machine (harness/nnunet/venv.sh: ~3.2 GB download, ~8 GB disk), then
# tests/nnunet/e2e.sh: stock vs probe trainer, a search, a clean dataset.
test-nnunet: $(BIN) $(HARNESS_BIN)
	tests/nnunet/e2e.sh
