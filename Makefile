# pare — plain GNU make.  `make` builds ./pare; `make check` runs every test;
# `make demo` runs the main job on the built-in sample image.
# Both install their own dependencies (scripts/deps.sh, apt).

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wformat=2 -Wno-format-nonliteral
PKGS     := libarchive jansson libcurl libcrypto libseccomp libcap libbpf libelf zlib libzstd libdeflate
# ISA-L's inflate for gzip layers where libisal is installed (x86_64: Debian's
# libisal-dev), zlib's otherwise; ISAL=0 builds the fallback.
ISAL     ?= $(shell pkg-config --exists libisal 2>/dev/null && echo 1)
ifeq ($(ISAL),1)
PKGS     += libisal
ISAL_DEF := -DHAVE_ISAL
endif
ALL_CFLAGS = -std=gnu11 -I. $(WARN) $(CFLAGS) $(ISAL_DEF) -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -larchive -ljansson -lcurl -lcrypto -lseccomp -lcap -lbpf -lelf -lz -lzstd -ldeflate $(if $(ISAL_DEF),-lisal))

ifdef SANITIZE
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

B := build
# Four libraries in dependency order: base <- image <- tracer <- slimmer.
BASE_SRC    := $(wildcard base/*.c)
IMAGE_SRC   := $(wildcard image/*.c)
SLIMMER_SRC := $(wildcard slimmer/*.c)
TRACER_SRC  := $(wildcard tracer/*.c)
CMD_SRC     := $(wildcard cmd/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
TOOL_SRC    := $(wildcard tests/tools/*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)

BASE_OBJ    := $(BASE_SRC:%.c=$(B)/%.o)
IMAGE_OBJ   := $(IMAGE_SRC:%.c=$(B)/%.o)
SLIMMER_OBJ := $(SLIMMER_SRC:%.c=$(B)/%.o)
TRACER_OBJ  := $(TRACER_SRC:%.c=$(B)/%.o)
CMD_OBJ     := $(CMD_SRC:%.c=$(B)/%.o)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_BIN    := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/%)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/%_replay)

all: pare

# Rebuild everything when the flags change (git's GIT-CFLAGS trick).
$(B)/CFLAGS: FORCE
	@mkdir -p $(B)
	@echo '$(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(ALL_CFLAGS) $(LDFLAGS)' > $@

# Rebuild the archives when a library's file list changes (a file moved
# or removed would otherwise stay in the old archive).
$(B)/SOURCES: FORCE
	@mkdir -p $(B)
	@echo '$(BASE_SRC) $(IMAGE_SRC) $(TRACER_SRC) $(SLIMMER_SRC)' | cmp -s - $@ || echo '$(BASE_SRC) $(IMAGE_SRC) $(TRACER_SRC) $(SLIMMER_SRC)' > $@

$(B)/%.o: %.c $(B)/CFLAGS
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The built-in profiles are data (profiles/*.json) compiled into the binary.
PROFILES := $(sort $(wildcard profiles/*.json))
$(B)/gen/builtin_profiles.c: $(PROFILES) scripts/embed-profiles.sh
	@mkdir -p $(dir $@)
	scripts/embed-profiles.sh $(PROFILES) > $@.tmp && mv $@.tmp $@

$(B)/gen/builtin_profiles.o: $(B)/gen/builtin_profiles.c $(B)/CFLAGS
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libbase.a: $(BASE_OBJ) $(B)/SOURCES
	rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

$(B)/libimage.a: $(IMAGE_OBJ) $(B)/SOURCES
	rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

$(B)/libslimmer.a: $(SLIMMER_OBJ) $(B)/gen/builtin_profiles.o $(B)/SOURCES
	rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

# moby's default seccomp profile, compiled in the same way (tracer/seccomp/).
$(B)/gen/seccomp_default.c: tracer/seccomp/docker-default.json scripts/embed-file.sh
	@mkdir -p $(dir $@)
	scripts/embed-file.sh seccomp_docker_default $< > $@.tmp && mv $@.tmp $@

$(B)/gen/seccomp_default.o: $(B)/gen/seccomp_default.c $(B)/CFLAGS
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The eBPF recorder's kernel half (tracer/bpf/): compiled for the BPF
# target by clang whatever CC is, never sanitized, and embedded in pare
# as a libbpf skeleton. CO-RE relocations fit its struct reads to the
# running kernel's BTF at load time, so nothing here reads this machine's.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -I. -I/usr/include/$(shell gcc -print-multiarch) -Wall -Werror
$(B)/bpf/record.bpf.o: tracer/bpf/record.bpf.c tracer/bpf/event.h
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -c $< -o $@

$(B)/bpf/record.skel.h: $(B)/bpf/record.bpf.o
	bpftool gen skeleton $< name record_bpf > $@.tmp && mv $@.tmp $@

$(B)/tracer/record_ebpf.o $(B)/tests/unit/test_ebpf_btf.o: $(B)/bpf/record.skel.h

$(B)/libtracer.a: $(TRACER_OBJ) $(B)/gen/seccomp_default.o $(B)/SOURCES
	rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

# Link order: a library before the ones it uses.
LIBS_A := $(B)/libslimmer.a $(B)/libtracer.a $(B)/libimage.a $(B)/libbase.a

pare: $(CMD_OBJ) $(LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# pare for its own container image (make image): libarchive linked in, and
# of it only what pare calls (--gc-sections: the tar reader and writers),
# so that its xar writer's libxml2, and ICU's 31 MB under that, stay out.
$(B)/image/pare: $(CMD_OBJ) $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,--gc-sections -o $@ $^ -Wl,-Bstatic -larchive -Wl,-Bdynamic -lnettle \
		$(shell pkg-config --libs $(filter-out libarchive,$(PKGS)))

$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(B)/tests/unit/tap.o $(B)/tests/unit/helpers.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: $(B)/tests/tools/%.o $(B)/tests/unit/helpers.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%_replay: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/replay.o $(B)/tests/unit/helpers.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/unit/tap.o: tests/unit/tap.c $(B)/CFLAGS
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

deps:
	@scripts/deps.sh

# The golden-test helper runs inside test images: static, never sanitized.
$(B)/tests/golden: tests/golden/golden.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -pthread $(WARN) -o $@ $<

# The breakout suite's hostile helper, the same way.
$(B)/tests/breakout: tests/breakout/breakout.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 $(WARN) -o $@ $<

# ---- tests ----
test-bins: pare $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_REPLAY) $(B)/tests/golden $(B)/tests/breakout

check-unit: test-bins
	tests/run-unit.sh $(B)/tests

# The end-to-end suites share one private dockerd (tests/e2e/all.sh).
E2E := tests/e2e/run.sh tests/e2e/tracer.sh tests/e2e/breakout.sh tests/e2e/slim.sh tests/e2e/profiles.sh tests/e2e/verify.sh tests/e2e/lazy.sh tests/e2e/runtimes.sh tests/e2e/daemons.sh tests/e2e/volumes.sh tests/e2e/cli.sh tests/e2e/readme.sh tests/e2e/container.sh tests/e2e/fleet.sh tests/e2e/registry.sh

check-e2e: test-bins
	tests/e2e/all.sh $(E2E)

check-tracer: test-bins
	tests/e2e/tracer.sh

check-slim: test-bins
	tests/e2e/slim.sh

check-profiles: test-bins
	tests/e2e/profiles.sh

check-readme: test-bins
	tests/e2e/readme.sh

check-cli: test-bins
	tests/e2e/cli.sh

check-verify: test-bins
	tests/e2e/verify.sh

check-breakout: test-bins
	tests/e2e/breakout.sh

check: deps
	$(MAKE) test-bins
	tests/run-unit.sh $(B)/tests
	tests/e2e/all.sh $(E2E)

# Unit tests under valgrind (run by .ci/run).
check-valgrind: test-bins
	VALGRIND=1 tests/run-unit.sh $(B)/tests

# libFuzzer builds (clang); `make fuzz` runs each target for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

demo: deps pare
	scripts/demo.sh

bench: deps pare
	bench/run.sh
	bench/tracer.sh
	bench/slim.sh

bench-tracer: deps pare
	bench/tracer.sh

bench-big: deps pare
	bench/big.sh

# pare's container image: build/pare-image.tar (docker-archive, pare:latest)
# and the OCI layout build/pare-image (scripts/image.sh).
image: deps $(B)/image/pare pare
	scripts/image.sh

lint:
	clang-format --dry-run --Werror cmd/*.c base/*.[ch] image/*.[ch] slimmer/*.[ch] tests/unit/*.[ch] || true
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance --inline-suppr \
		--suppress=missingIncludeSystem -I. base image slimmer cmd

clean:
	rm -rf $(B) pare

FORCE:
.PHONY: all deps check check-unit check-e2e check-tracer check-slim check-profiles check-readme check-cli check-verify check-breakout bench-tracer bench-big image check-valgrind fuzz demo bench lint clean test-bins FORCE
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
