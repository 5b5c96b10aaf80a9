# retnet: build, test, benchmark.
#
#   make            library (build/libretnet.a) and CLI (build/retnet)
#   make test       installs dependencies if missing, runs every test (the command CI runs)
#   make bench      benchmarks (tables on stdout, results in bench/)
#   make demo       the README's first command: init a model, show the three forms agree
#   DEBUG=1         AddressSanitizer + UBSan build (in build-debug/)
#   ARCH=...        target flags (default -march=native; ARCH=-march=x86-64-v2 for portable)
#   CC=clang        any C11 compiler with OpenMP

CC     ?= cc
ARCH   ?= -march=native
DEBUG  ?= 0

# ---- optional features, detected -------------------------------------------------------
# OpenBLAS, OpenMP build, linked by its own path: the pthread build fights our OpenMP loops
# for the cores (measured ~1.7x slower on 2 cores).
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
HAVE_BLAS := $(shell test -f $(BLAS_DIR)/libopenblas.so && test -f $(BLAS_INC)/cblas.h && echo 1)

ifeq ($(DEBUG),1)
  BUILD  := build-debug
  OPT    := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
  BUILD  := build
  OPT    := -O3 -g
endif

CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) -ffp-contract=fast -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
           -Iinclude -Isrc -MMD -MP
LDFLAGS += $(filter -fsanitize%,$(OPT)) -fopenmp
LDLIBS  += -lm

ifeq ($(HAVE_BLAS),1)
  CFLAGS += -DRETNET_BLAS -I$(BLAS_INC)
  LDLIBS += -Wl,-rpath,$(BLAS_DIR) $(BLAS_DIR)/libopenblas.so
endif

# ---- sources ---------------------------------------------------------------------------
LIB_SRC   := $(wildcard src/*.c src/ops/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELP := $(filter-out $(TEST_SRC),$(wildcard tests/*.c tests/ref/*.c))
TEST_HOBJ := $(TEST_HELP:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test test-debug bench bench-train bench-quality bench-decode demo clean info
all: info $(BUILD)/retnet $(TEST_BIN) $(BENCH_BIN)

info:
	@echo "retnet: CC=$(CC) ARCH=$(ARCH) DEBUG=$(DEBUG) BLAS=$(if $(HAVE_BLAS),openblas-openmp,none (plain C matmul))"

deps:
	@scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libretnet.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

TOOL_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c))

$(BUILD)/retnet: $(TOOL_OBJ) $(BUILD)/libretnet.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_HOBJ) $(BUILD)/libretnet.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# test_alloc counts the library's allocations by wrapping the allocator's symbols.
$(BUILD)/tests/test_alloc: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=posix_memalign,--wrap=free

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libretnet.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The test command of the README and of CI: dependencies, then the release build's tests,
# then the whole suite again under AddressSanitizer + UBSan. One closing line for both.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory DEBUG=1 all
	@-scripts/get-gpt2-tokenizer.sh
	@tests/run.sh build build-debug

# Only the sanitizer build.
test-debug: deps
	@$(MAKE) --no-print-directory DEBUG=1 all
	@-scripts/get-gpt2-tokenizer.sh
	@tests/run.sh build-debug

bench: all
	@scripts/install-deps.sh bench
	@bench/run.sh

# The training benchmark against PyTorch (needs Debian's python3-torch for the peer).
bench-train: all
	@bench/train.sh

# Decode latency against context, batch throughput, the memory-bandwidth bound.
bench-decode: all
	@scripts/install-deps.sh bench
	@bench/decode.sh

# Validation-loss curves of 15-minute runs on two corpora.
bench-quality: all
	@scripts/install-deps.sh bench
	@bench/quality.sh

demo: deps all
	@scripts/demo.sh

clean:
	rm -rf build build-debug

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
