# bianmin - the two commands of the README, and a few more.
#   make run    install what is missing, build, start broker + notifier on var/bianmin.db
#   make test   install what is missing, build, run every test; then again under ASan+UBSan
#   make install [PREFIX=/usr] [DESTDIR=/tmp/stage]   programs, units, config example, docs
BUILD      ?= build
BUILD_SAN  ?= build-san
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local

.PHONY: all deps build build-san run test test-normal test-san demo bench install clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DBM_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)

# make run builds quietly (the log is kept; shown if the build fails): the
# person starting the station reads the walk-through, not compiler progress.
run: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@echo "正在构建 / building (log: $(BUILD)/build.log) ..."
	@cmake --build $(BUILD) -j $(JOBS) >$(BUILD)/build.log 2>&1 || \
	  { tail -n 40 $(BUILD)/build.log; echo "构建失败，见 / build failed, see $(BUILD)/build.log"; exit 1; }
	@scripts/run.sh $(BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

test-normal: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: build-san
	@cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# The normal build's tests, then the same tests under AddressSanitizer + UBSan.
test: test-normal test-san

# Benchmarks (docs/benchmarks.md): the durable path against SQLite alone and against
# Redis and beanstalkd, dispatch, the notifier, scale. A section or sizes:
#   make bench BENCH_ARGS="--requests 5000 submit"
bench: build
	@scripts/bench.sh $(BUILD) $(BENCH_ARGS)

# Installs programs, example config, systemd units and docs under PREFIX
# (default /usr/local; PREFIX=/usr puts the config in /etc), staged under
# DESTDIR if set. Then see docs/operations.md: user, config, systemctl enable.
install: build
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
