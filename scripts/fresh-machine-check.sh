#!/usr/bin/env bash
# Before a release: the README's two Quick start commands on a fresh clone of HEAD, as a new user's machine runs them,
# with an empty ~/.m2 and ~/.javacpp (Java takes user.home from the password file, not $HOME, so an empty one is
# given through JAVA_TOOL_OPTIONS to every JVM, Maven's included). Two rounds:
#   1. bin/diffusion4j sample ... then ./mvnw -B verify on one empty user.home (the CLI's and the tests' native caches
#      are separate folders, so the CLI going first must not hide a failing first load in the tests);
#   2. ./mvnw -B verify alone on another empty user.home.
# Downloads everything twice (Maven Central: about 500 MB). Prints the time of each command; exits non-zero on the
# first failure. Usage: scripts/fresh-machine-check.sh [work-dir]   (default: a new temporary folder, removed after)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
[[ $# -ge 1 ]] || trap 'rm -rf "$work"' EXIT
run() { # label, home, command...
  local label="$1" home="$2"; shift 2
  local t0; t0=$(date +%s)
  echo "== $label (user.home=$home)"
  (cd "$work/clone-$(basename "$home")" && HOME="$home" JAVA_TOOL_OPTIONS="-Duser.home=$home" "$@") > "$work/$label.log" 2>&1 \
    || { echo "FAILED: $label (log: $work/$label.log)"; tail -40 "$work/$label.log"; exit 1; }
  echo "   $label: $(( $(date +%s) - t0 )) s"
}
for round in 1 2; do
  home="$work/home$round"
  mkdir -p "$home"
  git clone -q "$repo" "$work/clone-home$round"
done
run "1-sample" "$work/home1" bin/diffusion4j sample --model digits --class 3 --guidance 3 --batch 16 --out digits.png
run "1-verify" "$work/home1" ./mvnw -B verify
run "2-verify" "$work/home2" ./mvnw -B verify
echo "fresh-machine check passed"
