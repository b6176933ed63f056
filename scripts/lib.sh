# Shared shell helpers for the scripts in this folder. Source it; it defines
# functions only (and EH_ROOT), so sourcing has no side effects.
# shellcheck shell=bash

# The project's root, found from this file so that no absolute path of a
# particular machine is written anywhere.
# shellcheck disable=SC2034 # used by the scripts that source this file
EH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Progress goes to stdout; the prefix says which script is talking.
eh_say() {
    printf '%s: %s\n' "${EH_SCRIPT:-eh}" "$*"
}

eh_warn() {
    printf '%s: %s\n' "${EH_SCRIPT:-eh}" "$*" >&2
}

eh_die() {
    printf '%s: error: %s\n' "${EH_SCRIPT:-eh}" "$*" >&2
    exit 1
}

# Seconds since the epoch with a fraction, for deadlines and timings.
eh_now() {
    date +%s.%N
}

# eh_elapsed START: seconds (one decimal) since START taken with eh_now.
eh_elapsed() {
    awk -v a="$1" -v b="$(eh_now)" 'BEGIN { printf "%.1f", b - a }'
}

# eh_before DEADLINE: true while the clock has not passed DEADLINE (eh_now + n).
eh_before() {
    awk -v d="$1" -v n="$(eh_now)" 'BEGIN { exit !(n < d) }'
}

# eh_deadline SECONDS: the eh_now value SECONDS from now.
eh_deadline() {
    awk -v s="$1" -v n="$(eh_now)" 'BEGIN { printf "%.3f", n + s }'
}

# eh_tail FILE [N]: the last N lines of a log, indented, on stderr, so that a
# service that failed to start explains itself in the output of the caller.
eh_tail() {
    local file=$1 n=${2:-40}
    if [ -s "$file" ]; then
        printf '    --- last %s lines of %s ---\n' "$n" "$file" >&2
        tail -n "$n" "$file" | sed 's/^/    /' >&2
    else
        printf '    (%s is empty or missing)\n' "$file" >&2
    fi
}

# eh_first FILE REGEX [N]: the first N lines matching REGEX, indented, on
# stderr: where a crash report buries its cause under a long stack.
eh_first() {
    local file=$1 re=$2 n=${3:-10}
    if [ -s "$file" ] && grep -qE "$re" "$file"; then
        printf '    --- first lines matching %s in %s ---\n' "$re" "$file" >&2
        grep -m "$n" -E "$re" "$file" | sed 's/^/    /' >&2
    fi
}
