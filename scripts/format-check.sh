#!/usr/bin/env bash
# Checks that every C source and header of the repository is formatted as
# .clang-format says; lists the files that are not and exits 1.
# `scripts/format-check.sh --fix` (make format) rewrites them in place.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null 2>&1; then
    echo "format-check: $clang_format is not installed (make deps installs it)" >&2
    exit 2
fi

mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^node_modules/')
if [ "${1:-}" = "--fix" ]; then
    "$clang_format" -i "${files[@]}"
    echo "format: ${#files[@]} files formatted"
    exit 0
fi

bad=()
for f in "${files[@]}"; do
    if ! "$clang_format" --dry-run -Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if [ "${#bad[@]}" -gt 0 ]; then
    printf 'not formatted: %s\n' "${bad[@]}" >&2
    echo "format-check: ${#bad[@]} of ${#files[@]} files differ from .clang-format (make format fixes them)" >&2
    exit 1
fi
echo "format-check: ${#files[@]} files formatted"
