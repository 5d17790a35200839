# virtiosim build. `make help` lists the targets.
.DEFAULT_GOAL := all
SHELL := /bin/bash

PREFIX ?= /usr/local
# Debian's python3 (with python3-pytest), not whatever python3 comes first on PATH.
PYTHON ?= /usr/bin/python3
BUILD ?= build
VERSION := 0.1.0
# The shared library's ABI version: its SONAME is libvirtiosim.so.$(SOVERSION) (and
# include/virtiosim/version.h's VS_SOVERSION). Bump both when the ABI breaks.
SOVERSION := 0

CC ?= cc
OPT ?= -O2
# Link-time optimisation for the programs that run scenarios (the CLI, the shared library,
# the benchmarks): the small gmem, ring and engine calls inline across files, about 6 %
# more simulated requests per second. Objects are fat, so the static library and the test
# programs (linked without LTO, to keep `make check` quick) use their ordinary code.
# `make LTO=` turns it off; the asan build does.
LTO ?= -flto=auto -ffat-lto-objects
# At the LTO link GCC sees across files and reports many "may be used uninitialized"
# false positives on out-parameters; each file's own compile still checks them.
LTO_LINK = $(if $(LTO),-flto=auto -Wno-maybe-uninitialized)
# Profile-guided optimisation of the library and the CLI: an instrumented CLI
# ($(BUILD)/pgo/virtiosim) runs the in-process suites (tools/pgo_train.sh), and every
# object is then compiled with what that run counted (hot paths laid out straight, the
# event bus's indirect calls to the monitors, the trace and the device made direct).
# Measured on the verified 4 KiB user path: 0.86x the time. GCC only (the profile files are
# GCC's); `make PGO=` turns it off (a quicker edit-build cycle); the asan build does.
ifeq ($(origin PGO),undefined)
PGO := $(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo 1)
endif
PGO_DIR := $(BUILD)/pgo
# Copies and fills longer than 256 bytes (or of unknown length) call glibc, whose AVX2 /
# AVX-512 loops beat the inline `rep movsq` GCC picks once the profile says a copy is 4 KiB
# long: the device's data copy. Measured against the same profiled build without it:
# 0.983x the time of the verified 4 KiB run, 0.953x of the 64 KiB one. x86-64 only.
STRINGOP_ALGS := vector_loop:256:noalign,libcall:-1:noalign
STRINGOPS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine 2>/dev/null)),\
  -mmemcpy-strategy=$(STRINGOP_ALGS) -mmemset-strategy=$(STRINGOP_ALGS))
CPPFLAGS += -Iinclude -I. -DVS_VERSION=\"$(VERSION)\"
CFLAGS += -std=c11 $(OPT) $(LTO) -g -fPIC -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
          -Wno-missing-field-initializers -MMD -MP $(STRINGOPS)
PKGS := yaml-0.1 jansson check
LDLIBS += $(shell pkg-config --libs yaml-0.1 jansson libcrypto 2>/dev/null) -lm
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

# Library sources: every .c in the layer folders except tests, benchmarks, fuzzers and
# programs with a main() (listed in PROGRAM_SRCS).
# Device slices (../shared/DESIGN.md): each layer has one folder per device, <layer>/dev/<name>/.
DEV_DIRS = $(patsubst %/,%,$(sort $(dir $(wildcard $(1)/dev/*/*.c))))
MODEL_DEVS := $(call DEV_DIRS,model)
CONF_DEVS := $(call DEV_DIRS,conformance)
SIM_DEVS := $(call DEV_DIRS,sim)
LAYER_DIRS := model conformance reports sim sim/qemu sim/vhost $(MODEL_DEVS) $(CONF_DEVS) $(SIM_DEVS)
# The CLI: main.c and its pieces sim/cli_*.c (not part of the library).
PROGRAM_SRCS := sim/main.c $(wildcard sim/cli_*.c)
LIB_SRCS := $(filter-out $(PROGRAM_SRCS),$(foreach d,$(LAYER_DIRS),$(wildcard $(d)/*.c)))
LIB_SRCS := $(sort $(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
# Generated sources (never committed): the embedded conformance catalogue and one device
# registry per layer (tools/gen_registry.py), built from the dev/ folders.
LIB_OBJS += $(BUILD)/obj/$(BUILD)/gen/catalogue_data.o
$(BUILD)/gen/catalogue_data.c: conformance/catalogue.tsv tools/gen_catalogue.py
	@mkdir -p $(dir $@)
	$(PYTHON) tools/gen_catalogue.py $< $@
# REGISTRY(layer,header,type,array,devdirs): a layer's registry, once its hook header exists.
define REGISTRY
ifneq ($(wildcard $(2)),)
LIB_OBJS += $(BUILD)/obj/$(BUILD)/gen/registry_$(1).o
$(BUILD)/gen/registry_$(1).c: tools/gen_registry.py $(2) FORCE
	@$(PYTHON) tools/gen_registry.py $(2) $(3) $(4) $$@ $(5)
endif
endef
$(eval $(call REGISTRY,model,model/device_class.h,vs_device_class,vs_device_classes,$(MODEL_DEVS)))
$(eval $(call REGISTRY,conformance,conformance/monitor_dev.h,vs_mon_dev,vs_mon_devs,$(CONF_DEVS)))
$(eval $(call REGISTRY,sim,sim/sim_dev.h,vs_sim_dev,vs_sim_devs,$(SIM_DEVS)))
.PHONY: FORCE
FORCE:
TEST_SRCS := $(wildcard */tests/test_*.c */*/tests/test_*.c */dev/*/tests/test_*.c)
# The toy device (model/tests/dev/toy/ ...): a device the core has never heard of, known
# only to test_toy_device, which is linked with registries generated over the real device
# folders plus the toy's (they take the place of the library's registries).
TOY_DIRS := model/tests/dev/toy conformance/tests/dev/toy sim/tests/dev/toy
TOY_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(addsuffix /*.c,$(TOY_DIRS))))
TOY_REGS := $(addprefix $(BUILD)/obj/$(BUILD)/gen/toy/registry_,model.o conformance.o sim.o)
$(BUILD)/gen/toy/registry_model.c: tools/gen_registry.py FORCE
	@$(PYTHON) tools/gen_registry.py model/device_class.h vs_device_class vs_device_classes $@ $(MODEL_DEVS) model/tests/dev/toy
$(BUILD)/gen/toy/registry_conformance.c: tools/gen_registry.py FORCE
	@$(PYTHON) tools/gen_registry.py conformance/monitor_dev.h vs_mon_dev vs_mon_devs $@ $(CONF_DEVS) conformance/tests/dev/toy
$(BUILD)/gen/toy/registry_sim.c: tools/gen_registry.py FORCE
	@$(PYTHON) tools/gen_registry.py sim/sim_dev.h vs_sim_dev vs_sim_devs $@ $(SIM_DEVS) sim/tests/dev/toy
$(BUILD)/tests/test_toy_device: sim/tests/test_toy_device.c $(TOY_OBJS) $(TOY_REGS) $(BUILD)/libvirtiosim.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out $(LTO),$(CFLAGS)) $(if $(LTO),-fno-lto) -o $@ $< $(TOY_OBJS) $(TOY_REGS) $(BUILD)/libvirtiosim.a $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

TEST_BINS := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRCS)))
BENCH_SRCS := $(wildcard */bench/bench_*.c)
BENCH_BINS := $(patsubst %.c,$(BUILD)/bench/%,$(notdir $(BENCH_SRCS)))

vpath %.c $(sort $(dir $(TEST_SRCS) $(BENCH_SRCS)))

.PHONY: all lib deps check check-all unit asan valgrind check-layers pytest bench install clean help run matrix guest test-bins

all: lib $(if $(wildcard sim/main.c),$(BUILD)/virtiosim)

help:
	@echo "make deps         install missing Debian packages (apt-get)"
	@echo "make              build $(BUILD)/libvirtiosim.{a,so} and $(BUILD)/virtiosim"
	@echo "                  (profile-guided with GCC; PGO= for a quicker, unguided build)"
	@echo "make run          build, run the blk scenarios, certify blk-device (ref and QEMU)"
	@echo "make check        layers + unit tests + ASan/UBSan unit tests + pytest"
	@echo "make asan         unit tests under AddressSanitizer + UBSan"
	@echo "make valgrind     unit tests and CLI runs under valgrind memcheck (slow)"
	@echo "make bench        benchmarks; every figure is a 'bench: NAME VALUE UNIT' line"
	@echo "make matrix       every suite x back-end x QEMU version (7.2, 10.0): out/matrix/"
	@echo "make guest        the test guests (Debian kernels 6.1, 6.12): build/guest/linux-*/"
	@echo "make install PREFIX=/usr/local"

deps:
	@tools/deps.sh

lib: $(BUILD)/libvirtiosim.a $(BUILD)/libvirtiosim.so

# The flags the objects are compiled with, rewritten only when they change, so that
# `make PGO=` then `make` (or a change of OPT or LTO) recompiles instead of linking
# objects built the other way.
FLAGS_STAMP := $(BUILD)/cflags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@); f='$(CC) $(CFLAGS) PGO=$(PGO)'; \
	  [ "$$(cat $@ 2>/dev/null)" = "$$f" ] || echo "$$f" > $@

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PGO_FLAGS) -c $< -o $@

# The profiled build: instrumented objects (without LTO: the counters are placed before
# it, so the profile is the same and the build half the work), the instrumented CLI and
# its training run, which every profiled object waits for. An object is recompiled when
# its own source changes, not when the training's counts move (some suites time real
# threads, so their counts differ a little from run to run).
PGO_STEMS = $(patsubst $(BUILD)/obj/%.o,%,$(LIB_OBJS) $(PROGRAM_SRCS:%.c=$(BUILD)/obj/%.o))
PGO_AUX = -dumpdir $(PGO_DIR)/gcda/$(dir $*) -dumpbase $(notdir $*)
PGO_USE = -fprofile-use -fprofile-partial-training -Wno-missing-profile $(PGO_AUX)
ifneq ($(PGO),)
$(PGO_DIR)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out $(LTO),$(CFLAGS)) -fprofile-generate \
	  -fprofile-update=single $(PGO_AUX) -c $< -o $@
$(PGO_DIR)/virtiosim: $(PGO_STEMS:%=$(PGO_DIR)/obj/%.o)
	@echo "link the instrumented CLI $@"
	@$(CC) $(filter-out $(LTO),$(CFLAGS)) -fprofile-generate -o $@ $^ $(LDFLAGS) $(LDLIBS)
$(PGO_DIR)/trained: $(PGO_DIR)/virtiosim tools/pgo_train.sh
	tools/pgo_train.sh $(PGO_DIR)
	@touch $@
$(PGO_STEMS:%=$(BUILD)/obj/%.o): PGO_FLAGS = $(PGO_USE)
$(PGO_STEMS:%=$(BUILD)/obj/%.o): | $(PGO_DIR)/trained
endif

$(BUILD)/libvirtiosim.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# libvirtiosim.so.$(VERSION), with SONAME libvirtiosim.so.$(SOVERSION); the .so.$(SOVERSION)
# and .so names are symlinks (in the build folder and as installed).
$(BUILD)/libvirtiosim.so.$(VERSION): $(LIB_OBJS)
	$(CC) $(OPT) $(LTO_LINK) -shared -Wl,-soname,libvirtiosim.so.$(SOVERSION) -o $@ $^ \
	  $(LDFLAGS) $(LDLIBS)

$(BUILD)/libvirtiosim.so: $(BUILD)/libvirtiosim.so.$(VERSION)
	ln -sf libvirtiosim.so.$(VERSION) $(BUILD)/libvirtiosim.so.$(SOVERSION)
	ln -sf libvirtiosim.so.$(SOVERSION) $@

$(BUILD)/virtiosim: $(PROGRAM_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libvirtiosim.a
	$(CC) $(CFLAGS) $(LTO_LINK) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: %.c $(BUILD)/libvirtiosim.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out $(LTO),$(CFLAGS)) $(if $(LTO),-fno-lto) -o $@ $< $(BUILD)/libvirtiosim.a $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/bench/%: %.c $(BUILD)/libvirtiosim.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LTO_LINK) -o $@ $< $(BUILD)/libvirtiosim.a $(LDFLAGS) $(LDLIBS)

# Unit tests: every */tests/test_*.c is one Check program.
unit: $(TEST_BINS)
	@fail=0; for t in $(TEST_BINS); do \
	  CK_DEFAULT_TIMEOUT=120 ./$$t || fail=1; done; exit $$fail

# Builds use every CPU (compilers are independent); the tests themselves run one program
# at a time, since several of them time QEMU and the guest.
NPROC := $(shell nproc 2>/dev/null || echo 2)
test-bins: $(TEST_BINS)

ASAN_MAKE = $(MAKE) --no-print-directory BUILD=build-asan LTO= PGO= \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined"
asan:
	$(ASAN_MAKE) -j$(NPROC) test-bins
	$(ASAN_MAKE) unit

# Unit tests and a few CLI runs under valgrind memcheck (slow; not part of `make check`).
VALGRIND := valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite
valgrind: all $(TEST_BINS)
	@fail=0; for t in $(TEST_BINS); do echo "valgrind $$t"; \
	  CK_FORK=no CK_DEFAULT_TIMEOUT=1200 $(VALGRIND) ./$$t >/dev/null || fail=1; done; \
	$(VALGRIND) $(BUILD)/virtiosim run -q scenarios/blk/rw-basic.yaml scenarios/blk/packed-rw.yaml \
	  scenarios/blk/fault-loop.yaml scenarios/pci/probe.yaml scenarios/blk/zoned-errors.yaml \
	  scenarios/blk/suspend.yaml scenarios/blk/queue-reset.yaml || fail=1; exit $$fail

check-layers:
	@$(PYTHON) tools/check_layers.py

pytest: all
	@$(PYTHON) -m pytest -q --durations=15 tests conformance/tests

# The README's two commands install missing packages first, then re-read this Makefile
# (pkg-config flags are evaluated when it is parsed).
check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all test-bins
	@$(MAKE) --no-print-directory guest GUEST_KERNELS=6.1
	@$(MAKE) --no-print-directory check-all

check-all: check-layers unit asan pytest

# Certifies every device virtiosim has against its reference device and against QEMU 7.2
# (QEMU's known non-conformances are in the expected-results files, with evidence).
QEMU_EXPECTED := scenarios/expected/qemu-7.2.yaml
QEMU_SCSI_EXPECTED := scenarios/expected/qemu-7.2-scsi.yaml
run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/virtiosim run scenarios/blk
	$(BUILD)/virtiosim suite blk-device --report out/ref
	$(BUILD)/virtiosim suite blk-device --backend qemu --expected $(QEMU_EXPECTED) --report out/qemu
	$(BUILD)/virtiosim suite scsi-device --report out/scsi-ref
	$(BUILD)/virtiosim suite scsi-device --backend qemu --expected $(QEMU_SCSI_EXPECTED) \
	  --report out/scsi-qemu
	$(BUILD)/virtiosim suite console-device --report out/console-ref
	$(BUILD)/virtiosim suite console-device --backend qemu --expected $(QEMU_EXPECTED) \
	  --report out/console-qemu
	@echo "reports (report.html, results.json, junit.xml, results.ktap in each):"
	@echo "  virtio-blk:     out/ref  out/qemu"
	@echo "  virtio-scsi:    out/scsi-ref  out/scsi-qemu"
	@echo "  virtio-console: out/console-ref  out/console-qemu"

# Every suite x back-end x QEMU version (7.2 from Debian, 10.0 from bookworm-backports
# through a private apt configuration under build/apt): out/matrix/matrix.html.
matrix: deps
	@$(MAKE) --no-print-directory all
	$(PYTHON) tools/matrix.py --out out/matrix

bench: all $(BENCH_BINS)
	@for b in $(BENCH_BINS); do ./$$b || exit 1; done
	@$(MAKE) --no-print-directory guest GUEST_KERNELS=6.1 >/dev/null
	@$(PYTHON) guest-image/bench_boot.py $(BUILD)/guest/linux-6.1
	@# QEMU again with INTx: waits block on the qtest socket instead of polling MSI-X slots
	@VIRTIOSIM_BENCH_INTX=1 ./$(BUILD)/bench/bench_qemu | sed 's/^bench: qemu-blk-/bench: qemu-blk-intx-/'
	@# ... and MSI-X with the scheduler free to put QEMU on the other CPU (cross-CPU wake-ups)
	@VIRTIOSIM_BENCH_SAME_CPU=0 ./$(BUILD)/bench/bench_qemu | sed 's/^bench: qemu-blk-/bench: qemu-blk-any-cpu-/'
	@# ... and QEMU 10.0 from bookworm-backports (tools/backports.sh: a private apt under build/):
	@# bench_qemu, the verified user-path run and the campaign rate, as qemu10-* lines
	@BUILD=$(BUILD) tools/bench_qemu10.sh


install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/virtiosim $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libvirtiosim.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libvirtiosim.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libvirtiosim.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libvirtiosim.so.$(SOVERSION)
	ln -sf libvirtiosim.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libvirtiosim.so
	install -m 644 include/virtiosim/*.h $(DESTDIR)$(PREFIX)/include/virtiosim/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tools/virtiosim.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/virtiosim.pc
	if [ -f $(BUILD)/virtiosim ]; then install -d $(DESTDIR)$(PREFIX)/bin && install -m 755 $(BUILD)/virtiosim $(DESTDIR)$(PREFIX)/bin/; fi
	install -d $(DESTDIR)$(PREFIX)/share/virtiosim
	cp -r scenarios $(DESTDIR)$(PREFIX)/share/virtiosim/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	sed -e 's|@VERSION@|$(VERSION)|' tools/virtiosim.1 > $(DESTDIR)$(PREFIX)/share/man/man1/virtiosim.1
	install -m 644 tools/virtiosim.bash-completion \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/virtiosim

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) build-asan -name '*.d' -type f 2>/dev/null)

# ---- fuzz: vhost-user message parser + state machine (libFuzzer, clang) ------------------
# Builds fuzz/fuzz_vhost_msg.c directly against the model sources it needs (not the gcc
# library) and runs it for FUZZ_SECONDS over a copy of fuzz/corpus/vhost_msg.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_VHOST_SRCS := fuzz/fuzz_vhost_msg.c model/vhost.c model/vhost_codec.c model/vhost_rules.c \
                   model/error.c model/ring.c model/ring_split.c model/ring_packed.c model/gmem.c
.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_vhost_msg $(BUILD)/fuzz/fuzz_scsi $(BUILD)/fuzz/fuzz_console_ctrl
	rm -rf $(BUILD)/fuzz/corpus_vhost_msg $(BUILD)/fuzz/artifacts
	mkdir -p $(BUILD)/fuzz/corpus_vhost_msg $(BUILD)/fuzz/artifacts
	cp fuzz/corpus/vhost_msg/* $(BUILD)/fuzz/corpus_vhost_msg/
	$(BUILD)/fuzz/fuzz_vhost_msg -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	  -artifact_prefix=$(BUILD)/fuzz/artifacts/ $(BUILD)/fuzz/corpus_vhost_msg
	rm -rf $(BUILD)/fuzz/corpus_scsi && mkdir -p $(BUILD)/fuzz/corpus_scsi
	cp fuzz/corpus/scsi/* $(BUILD)/fuzz/corpus_scsi/
	$(BUILD)/fuzz/fuzz_scsi -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -artifact_prefix=$(BUILD)/fuzz/artifacts/ $(BUILD)/fuzz/corpus_scsi
	rm -rf $(BUILD)/fuzz/corpus_console_ctrl && mkdir -p $(BUILD)/fuzz/corpus_console_ctrl
	cp fuzz/corpus/console_ctrl/* $(BUILD)/fuzz/corpus_console_ctrl/
	$(BUILD)/fuzz/fuzz_console_ctrl -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -artifact_prefix=$(BUILD)/fuzz/artifacts/ $(BUILD)/fuzz/corpus_console_ctrl
$(BUILD)/fuzz/fuzz_vhost_msg: $(FUZZ_VHOST_SRCS) $(wildcard include/virtiosim/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 -Iinclude -I. -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $@ $(FUZZ_VHOST_SRCS)
# virtio-scsi codec + the reference device's parsing of hostile chains (fuzz/fuzz_scsi.c)
FUZZ_SCSI_SRCS := fuzz/fuzz_scsi.c $(filter-out model/dev/scsi/scsi_class.c,$(wildcard model/dev/scsi/*.c)) \
                  model/error.c model/gmem.c model/chain.c
$(BUILD)/fuzz/fuzz_scsi: $(FUZZ_SCSI_SRCS) $(wildcard include/virtiosim/*.h model/dev/scsi/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 -Iinclude -I. -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $@ $(FUZZ_SCSI_SRCS)

# ---- the test guest: Debian kernels (6.1 from bookworm, 6.12 from bookworm-backports
# through tools/backports.sh's private apt configuration) with a busybox initramfs and
# vsguest, for --backend guest. Cached: a finished image is reused.
GUEST_KERNELS ?= 6.1 6.12
guest: $(BUILD)/virtiosim-static
	@for v in $(GUEST_KERNELS); do BUILD=$(BUILD) guest-image/build.sh $$v >/dev/null || exit 1; done

# The CLI linked statically for the test guest (--backend vhost-kernel runs it there), from
# the objects' ordinary code (no LTO). glibc's warnings about getaddrinfo/dlopen in a
# static program (libcrypto's BIO code, never called) are kept in a log.
$(BUILD)/virtiosim-static: $(PROGRAM_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libvirtiosim.a
	@$(CC) $(filter-out $(LTO),$(CFLAGS)) $(if $(LTO),-fno-lto) -static -o $@ $^ $(LDFLAGS) \
	  -lyaml -ljansson -lcrypto -lm -lpthread 2> $@.log || { cat $@.log; exit 1; }

# ---- fuzz: more libFuzzer targets (clang), built against the library compiled once more
# with the sanitizers: the rings' device side (fuzz_ring), the scenario loader
# (fuzz_loader), the vhost-user front-end against a hostile back-end (fuzz_vhost_fe).
# `make fuzz` runs each for FUZZ_SECONDS after the vhost-user message fuzzer;
# `make fuzz-smoke` runs every target for FUZZ_SMOKE_SECONDS on its committed corpus (CI).
FUZZ_TARGETS := ring loader vhost_fe
FUZZ_SMOKE_SECONDS ?= 3
# -MMD -MP: a header change rebuilds the objects that include it (a stale object with an
# old struct layout made the loader fuzzer report garbage in a field as a finding).
FUZZ_CFLAGS := -std=c11 -g -O1 -Iinclude -I. -DVS_VERSION=\"$(VERSION)\" -MMD -MP \
               -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_LIB_SRCS := $(LIB_SRCS) $(BUILD)/gen/catalogue_data.c $(BUILD)/gen/registry_model.c \
                 $(BUILD)/gen/registry_conformance.c $(BUILD)/gen/registry_sim.c
FUZZ_LIB_OBJS := $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(FUZZ_LIB_SRCS))
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/libvs_fuzz.a: $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/fuzz_ring $(BUILD)/fuzz/fuzz_loader $(BUILD)/fuzz/fuzz_vhost_fe: $(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(BUILD)/fuzz/libvs_fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/fuzz/libvs_fuzz.a $(LDLIBS)
# FUZZ_RUN(target,seconds): one bounded run over a scratch corpus plus the committed one;
# prints libFuzzer's final stats (exec/s) and fails on a crash, leak or timeout.
# Short allocation stacks, a small quarantine and no fill of fresh blocks: the loader
# allocates libyaml's buffers on every input, and ASan's bookkeeping of them was half its
# time (ASAN_OPTIONS overrides). Inputs up to 4 KiB: scenarios, ring images and reply
# streams all fit.
FUZZ_RUN = mkdir -p $(BUILD)/fuzz/corpus_$(1) $(BUILD)/fuzz/artifacts && \
  ASAN_OPTIONS=$${ASAN_OPTIONS:-malloc_context_size=2:quarantine_size_mb=4:max_malloc_fill_size=0} \
  $(BUILD)/fuzz/fuzz_$(1) -max_total_time=$(2) -max_len=4096 -print_final_stats=1 \
    -artifact_prefix=$(BUILD)/fuzz/artifacts/$(1)- $(BUILD)/fuzz/corpus_$(1) fuzz/corpus/$(1) \
    > $(BUILD)/fuzz/$(1).log 2>&1; rc=$$?; \
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec)|^SUMMARY|^==[0-9]+==ERROR" \
    $(BUILD)/fuzz/$(1).log | sed "s/^/fuzz $(1): /"; exit $$rc
.PHONY: fuzz-more fuzz-smoke
fuzz: fuzz-more
fuzz-more: $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS))
	@$(call FUZZ_RUN,ring,$(FUZZ_SECONDS))
	@$(call FUZZ_RUN,loader,$(FUZZ_SECONDS))
	@$(call FUZZ_RUN,vhost_fe,$(FUZZ_SECONDS))
fuzz-smoke: $(BUILD)/fuzz/fuzz_vhost_msg $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS)) \
            $(BUILD)/fuzz/fuzz_scsi $(BUILD)/fuzz/fuzz_console_ctrl
	@$(call FUZZ_RUN,vhost_msg,$(FUZZ_SMOKE_SECONDS))
	@$(call FUZZ_RUN,scsi,$(FUZZ_SMOKE_SECONDS))
	@$(call FUZZ_RUN,console_ctrl,$(FUZZ_SMOKE_SECONDS))
	@$(call FUZZ_RUN,ring,$(FUZZ_SMOKE_SECONDS))
	@$(call FUZZ_RUN,loader,$(FUZZ_SMOKE_SECONDS))
	@$(call FUZZ_RUN,vhost_fe,$(FUZZ_SMOKE_SECONDS))
# ---- fuzz: the console control-message codec and the reference console's control queues
FUZZ_CONSOLE_SRCS := fuzz/fuzz_console_ctrl.c $(wildcard model/dev/console/*.c) model/error.c \
                     model/gmem.c
$(BUILD)/fuzz/fuzz_console_ctrl: $(FUZZ_CONSOLE_SRCS) $(wildcard include/virtiosim/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 -Iinclude -I. -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $@ $(FUZZ_CONSOLE_SRCS)
