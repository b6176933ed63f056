#!/usr/bin/env bash
# The test run behind `make test`: fresh services in a throwaway folder,
# unit tests, migrations, C integration tests, then the pytest suite that
# drives the real binaries. The services are stopped on every way out.
# Prints one closing line: "tests: N passed, M failed".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=build/asan
python=/usr/bin/python3

passed=0
failed=0
failures=()

# A killed earlier run may have left services behind: stop them first.
mkdir -p .run
for old in .run/test-*; do
    [ -d "$old" ] || continue
    scripts/services.sh stop "$old" >/dev/null 2>&1 || true
    rm -rf "$old"
done

run_dir=$(mktemp -d "$root/.run/test-XXXXXX")
cleanup() {
    scripts/services.sh stop "$run_dir" >/dev/null 2>&1 || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp"

# Adds up the numbers in front of the matches of a pattern ("3 failed, 1 error" -> 4); 0 when none.
sum_of() {
    printf '%s\n' "$2" | { grep -oE "$1" || true; } |
        awk '{ for (i = NF; i > 0; i--) if ($i ~ /^[0-9]+$/) { s += $i; break } } END { print s + 0 }'
}

# Runs one cmocka binary and adds its counts; a crash without a summary counts as one failure.
run_cmocka() {
    local bin=$1 out rc=0
    out=$("$bin" 2>&1) || rc=$?
    printf '%s\n' "$out"
    local p f
    p=$(sum_of '^\[  PASSED  \] [0-9]+' "$out")
    f=$(sum_of '^\[  FAILED  \] [0-9]+' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=("$(basename "$bin")")
}

# Runs every cmocka binary matching a pattern; finding none is a failure (a broken build must not pass).
run_suite() {
    local pattern=$1 t found=0
    for t in $pattern; do
        [ -x "$t" ] || continue
        found=1
        run_cmocka "$t"
    done
    if [ "$found" -eq 0 ]; then
        echo "no test binary matches $pattern" >&2
        failed=$((failed + 1))
        failures+=("$pattern")
    fi
}

echo "== unit tests"
run_suite "$build/tests/*_test"

# The OpenAPI document passes Redocly's recommended rules; counted as one test.
echo "== OpenAPI lint (redocly, recommended rules)"
if node_modules/.bin/redocly lint --extends=recommended --format=stylish api/openapi.json; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    failures+=("openapi-lint")
fi

echo "== services ($run_dir)"
scripts/services.sh start "$run_dir"
# shellcheck disable=SC1091
. "$run_dir/env"
export EH_RUN_DIR="$run_dir" EH_REPO_ROOT="$root" EH_TEST_BIN_DIR="$root/$build/bin"
# The browser tests (tests/integration/test_web.py, Chromium) keep a screenshot of each screen here,
# outside the run folder that is removed at exit.
export EH_SCREENSHOT_DIR="$root/build/screenshots"

echo "== migrations"
"$build/bin/eh-api" migrate

echo "== integration tests (C)"
run_suite "$build/tests/*_itest"

echo "== integration tests (binaries, pytest)"
pytest_out="$run_dir/pytest.out"
rc=0
"$python" -m pytest -p no:cacheprovider -q -rfE --durations=25 tests/integration "$@" 2>&1 | tee "$pytest_out" || rc=$?
# pytest -q closes with e.g. "3 failed, 61 passed in 114.70s" (with -v, framed in ===).
summary=$(grep -E '[0-9]+ (passed|failed|errors?).* in [0-9.]+s' "$pytest_out" | tail -n1 || true)
p=$(sum_of '[0-9]+ passed' "$summary")
f=$(sum_of '[0-9]+ (failed|errors?)' "$summary")
f=${f:-0}
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
fi
passed=$((passed + p))
failed=$((failed + f))
[ "$f" -eq 0 ] || failures+=("pytest")

echo
[ ! -d "$EH_SCREENSHOT_DIR" ] || echo "screenshots of the web page: $EH_SCREENSHOT_DIR"
[ "${#failures[@]}" -eq 0 ] || echo "failing: ${failures[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
