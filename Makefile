# Ursa -- two commands: `make run` and `make test`. Everything else is CMake.
#
#   make          release build: build/ursa
#   make run      install missing packages, build, serve on 127.0.0.1:8000 with ./data
#   make test     install what the tests need, build with ASan+UBSan, run every test
#   make format   clang-format the C sources
#   make clean

LISTEN ?= 127.0.0.1:8000
STORE ?= ./data
JOBS ?= $(shell nproc)

.PHONY: all build run test deps test-deps asan format format-check clean fuzz

all: build

build:
	@command -v cmake >/dev/null && command -v ninja >/dev/null || scripts/deps.sh build
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
	ninja -C build -j $(JOBS) ursa

deps:
	scripts/deps.sh build

test-deps:
	scripts/deps.sh test

run: deps build
	./build/ursa serve --listen $(LISTEN) --store $(STORE)

asan:
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DURSA_SANITIZE=ON -DURSA_WERROR=ON
	ninja -C build-asan -j $(JOBS)

test: test-deps format-check asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j 2

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h $(wildcard fuzz/*.c fuzz/*.h bench/*.c)

format-check:
	clang-format --dry-run -Werror src/*.c src/*.h tests/unit/*.c tests/unit/*.h $(wildcard fuzz/*.c fuzz/*.h bench/*.c)

clean:
	rm -rf build build-asan

# make fuzz: builds the libFuzzer drivers (fuzz/fuzz_*.c, clang) and runs each
# in turn for FUZZ_SECONDS (default 60: a smoke run of a few minutes in all;
# the release bar of issue 6 is FUZZ_SECONDS=600) at nice 19. FUZZ_TARGETS
# picks some ("array timestamp"); default all. Fails when one finds a crash.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
