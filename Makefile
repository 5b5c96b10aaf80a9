# retnet: build, test, benchmark.
#
#   make            library (build/libretnet.a) and CLI (build/retnet)
#   make test       installs dependencies if missing, runs every test (the command CI runs)
#   make bench      benchmarks (tables on stdout, results in bench/)
#   make demo       the README's first command: init a model, show the three forms agree
#   make fuzz       libFuzzer on the file parsers, 60 s a target (needs clang; tests/fuzz/)
#   make test-cuda  the CUDA backend's tests (CUDA=1 build; on a machine with a GPU)
#   make memcheck-cuda  the same under compute-sanitizer's memcheck (the GPU's ASan)
#   DEBUG=1         AddressSanitizer + UBSan build (in build-debug/)
#   CUDA=1          the CUDA backend too (in build-cuda/; needs nvcc, see CUDA_HOME)
#   ARCH=...        target flags (default -march=native; ARCH=-march=x86-64-v2 for portable)
#   CC=clang        any C11 compiler with OpenMP

CC     ?= cc
ARCH   ?= -march=native
DEBUG  ?= 0
CUDA   ?= 0

# ---- optional features, detected -------------------------------------------------------
# OpenBLAS, OpenMP build, linked by its own path: the pthread build fights our OpenMP loops
# for the cores (measured ~1.7x slower on 2 cores).
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
HAVE_BLAS := $(shell test -f $(BLAS_DIR)/libopenblas.so && test -f $(BLAS_INC)/cblas.h && echo 1)

# CUDA: nvcc, found by its usual path. Only CUDA=1 builds use it; `make test` adds the CUDA
# tests when it is there (they skip themselves on a machine without a GPU).
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
HAVE_NVCC := $(shell test -x $(NVCC) && echo 1)

ifeq ($(DEBUG),1)
  BUILD  := build-debug
  OPT    := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
  BUILD  := build
  OPT    := -O3 -g
endif
ifeq ($(CUDA),1)
  BUILD  := $(BUILD:build%=build-cuda%)
endif

CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) -ffp-contract=fast -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
           -Iinclude -Isrc -MMD -MP
LDFLAGS += $(filter -fsanitize%,$(OPT)) -fopenmp
LDLIBS  += -lm

ifeq ($(HAVE_BLAS),1)
  CFLAGS += -DRETNET_BLAS -I$(BLAS_INC)
  LDLIBS += -Wl,-rpath,$(BLAS_DIR) $(BLAS_DIR)/libopenblas.so
endif

# sm_80 (A100) and sm_90 (H100/H200) machine code, sm_90a for the Hopper-only instructions
# (wgmma, TMA) of the retention kernels (the driver picks it over sm_90 on Hopper), and sm_90
# PTX for newer GPUs. nvcc's --threads 0 compiles the targets of a file in parallel.
CUDA_GENCODE ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
                -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -O3 -lineinfo -std=c++17 $(CUDA_GENCODE) --threads 0 -Xcompiler -Wall,-Wno-unused-parameter
ifeq ($(CUDA),1)
  ifneq ($(HAVE_NVCC),1)
    $(error CUDA=1 needs nvcc: $(NVCC) is not there (set CUDA_HOME or NVCC))
  endif
  CFLAGS += -DRETNET_CUDA
  # the runtime API only (libcudart finds the driver at run time): no -lcuda; NCCL for
  # multi-GPU training (src/cuda/dist.cu)
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lnccl -lcublasLt -lcublas -lcudart -lstdc++
endif

# ---- sources ---------------------------------------------------------------------------
LIB_SRC   := $(wildcard src/*.c src/ops/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
# CUDA=1: the backend's kernels join the library; its tests live apart in $(BUILD)/cuda/tests,
# so that tests/run.sh can run them alone (`make test` runs them without the rest again).
CUDA_SRC      ?= $(wildcard src/cuda/*.cu)
CUDA_TEST_SRC := $(wildcard tests/cuda/test_*.c)
ifeq ($(CUDA),1)
  LIB_OBJ       += $(CUDA_SRC:%.cu=$(BUILD)/%.o)
  CUDA_TEST_BIN := $(CUDA_TEST_SRC:tests/cuda/%.c=$(BUILD)/cuda/tests/%)
  CUDA_BENCH    := $(BUILD)/cuda/bench_cuda_ops
endif
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELP := $(filter-out $(TEST_SRC),$(wildcard tests/*.c tests/ref/*.c))
TEST_HOBJ := $(TEST_HELP:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test test-debug test-cuda memcheck-cuda cuda-tests bench bench-train bench-quality bench-decode demo clean info
all: info $(BUILD)/retnet $(TEST_BIN) $(BENCH_BIN) $(CUDA_TEST_BIN) $(CUDA_BENCH)

info:
	@echo "retnet: CC=$(CC) ARCH=$(ARCH) DEBUG=$(DEBUG) BLAS=$(if $(HAVE_BLAS),openblas-openmp,none (plain C matmul)) CUDA=$(CUDA)$(if $(filter 1,$(CUDA)), ($(NVCC)),$(if $(HAVE_NVCC), (nvcc found: CUDA=1 builds the backend),))"

deps:
	@scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -Iinclude -Isrc -MMD -MP -MF $(@:.o=.d) -c $< -o $@

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

$(BUILD)/cuda/tests/%: $(BUILD)/tests/cuda/%.o $(TEST_HOBJ) $(BUILD)/libretnet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The kernels' timings at training sizes (on a GPU: build-cuda/cuda/bench_cuda_ops).
$(BUILD)/cuda/bench_cuda_ops: $(BUILD)/tests/cuda/bench_cuda_ops.o $(BUILD)/libretnet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The test command of the README and of CI: dependencies, then the release build's tests,
# then the whole suite again under AddressSanitizer + UBSan, and where nvcc is installed the
# CUDA backend's tests (which skip, passing, without a GPU). One closing line for all.
# gnuplot too (install-deps.sh bench): the report smoke tests then check the plots as well.
test:
	@scripts/install-deps.sh bench
	@$(MAKE) --no-print-directory all
	@ln -sf ../../tests/report_smoke.sh build/tests/test_report_smoke
	@ln -sf ../../tests/gpu_report_smoke.sh build/tests/test_gpu_report_smoke
	@$(MAKE) --no-print-directory DEBUG=1 all
	@-scripts/get-gpt2-tokenizer.sh
	@-scripts/get-hf-tokenizers.sh
ifeq ($(HAVE_NVCC),1)
	@$(MAKE) --no-print-directory CUDA=1 cuda-tests
	@tests/run.sh build build-debug build-cuda/cuda
else
	@tests/run.sh build build-debug
endif

# The CUDA backend's tests alone (each skips, passing, where no GPU is found).
cuda-tests: info $(CUDA_TEST_BIN)

test-cuda:
	@$(MAKE) --no-print-directory CUDA=1 cuda-tests
	@tests/run.sh build-cuda/cuda

# Every CUDA test under compute-sanitizer: an out-of-bounds or misaligned access, or a device
# fault, fails its binary (exit status 99). API errors are not reported: test_cuda_ops asks
# for more memory than there is on purpose, and NCCL probes kernels it was not built for.
SANITIZER ?= $(or $(shell command -v compute-sanitizer),$(CUDA_HOME)/bin/compute-sanitizer)
memcheck-cuda:
	@test -x "$(SANITIZER)" || { echo "memcheck-cuda: no compute-sanitizer at $(SANITIZER)" \
	  "(set SANITIZER)"; exit 1; }
	@$(MAKE) --no-print-directory CUDA=1 cuda-tests
	@TEST_WRAPPER="$(SANITIZER) --tool memcheck --report-api-errors no \
	  --error-exitcode 99 --print-limit 20" tests/run.sh build-cuda/cuda

# Only the sanitizer build.
test-debug: deps
	@$(MAKE) --no-print-directory DEBUG=1 all
	@-scripts/get-gpt2-tokenizer.sh
	@-scripts/get-hf-tokenizers.sh
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

# The paper's claims (RETNET.md §7) measured at our scale, RetNet against a matched Transformer:
# bench/REPORT.md, its plots and raw data in bench/report/ (~30 minutes on 2 quiet cores).
# report-smoke: the same scripts at tiny sizes in under a minute, into a temporary directory
# (what `make test` runs, as build/tests/test_report_smoke).
.PHONY: report report-smoke fuzz
report: all
	@scripts/install-deps.sh bench
	@bench/report.sh

report-smoke: all
	@tests/report_smoke.sh

demo: deps all
	@scripts/demo.sh

# Coverage-guided fuzzing of the file parsers under ASan + UBSan (tests/fuzz/README.md):
# FUZZ_SECONDS per target, FUZZ_TARGETS to pick some. Not part of `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build build-debug build-cuda build-cuda-debug build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
