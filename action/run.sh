#!/usr/bin/env bash
# The logic of the firebrick GitHub Action (action.yml runs it after installing firebrick).
#
# Reads INPUT_* variables, runs `firebrick scan` writing JSON, SARIF and Markdown reports,
# appends the Markdown to $GITHUB_STEP_SUMMARY, writes score/grade/findings/sarif/json to
# $GITHUB_OUTPUT and exits with firebrick's own exit code (0 passed, 1 gate failed,
# 2 scan incomplete, 3 usage or internal error).
# FIREBRICK (default: firebrick) names the command, for running from a checkout.
set -uo pipefail

fail() { echo "::error title=firebrick::$1" >&2; exit 3; }

url="${INPUT_URL:-}"
[ -n "$url" ] || fail "the 'url' input is required"

out_dir="${INPUT_OUTPUT_DIR:-firebrick-report}"
mkdir -p "$out_dir" || fail "cannot create $out_dir"
json="$out_dir/firebrick.json"
sarif="$out_dir/firebrick.sarif"
md="$out_dir/firebrick.md"
rm -f "$json" "$sarif" "$md"

# GitHub code scanning accepts only locations in repository files: findings with no source file
# and no local OpenAPI document point at this documented file (docs/reports.md).
mkdir -p .firebrick && printf '%s\n' "$url" > .firebrick/target.txt

read -r -a cmd <<< "${FIREBRICK:-firebrick}"
# --compact: one entry per finding in the log; the reports hold the evidence and the fixes.
args=(scan "$url" --compact
      --format json --output "$json"
      --format sarif --output "$sarif"
      --format markdown --output "$md")
[ -n "${INPUT_SPEC:-}" ] && args+=(--spec "$INPUT_SPEC")
[ -n "${INPUT_FAIL_BELOW:-}" ] && args+=(--fail-below "$INPUT_FAIL_BELOW")
[ -n "${INPUT_FAIL_ON:-}" ] && args+=(--fail-on "$INPUT_FAIL_ON")
# One header per line; blank lines and CRs (Windows-edited workflow files) ignored.
while IFS= read -r line || [ -n "$line" ]; do
  line="${line%$'\r'}"
  [ -n "${line//[[:space:]]/}" ] && args+=(--header "$line")
done <<< "${INPUT_HEADERS:-}"
# Extra args: split on whitespace only; no eval, so no globbing or command substitution.
if [ -n "${INPUT_ARGS:-}" ]; then
  read -r -a extra <<< "$INPUT_ARGS"
  args+=("${extra[@]}")
fi

echo "firebrick: scanning $url" >&2
"${cmd[@]}" "${args[@]}"
code=$?

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  if [ -s "$md" ]; then
    cat "$md" >> "$GITHUB_STEP_SUMMARY"
  else
    printf '## firebrick\n\nThe scan of `%s` produced no report (exit code %s).\n' \
      "$url" "$code" >> "$GITHUB_STEP_SUMMARY"
  fi
fi

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  if [ -s "$json" ]; then
    python3 - "$json" >> "$GITHUB_OUTPUT" <<'PY' || echo "::warning title=firebrick::could not read $json" >&2
import json, sys
with open(sys.argv[1], encoding="utf-8") as fh:
    r = json.load(fh)
score = r.get("score")
print(f"score={'' if score is None else round(score)}")
print(f"grade={r.get('grade') or ''}")
print(f"grade_status={r.get('grade_status') or ''}")
print(f"findings={len(r.get('findings') or [])}")
c = r.get("coverage_summary") or {}
cats = c.get("categories") or []
planned = sum(x.get("planned", 0) for x in cats)
verdicts = sum(x.get("verdicts", 0) for x in cats)
share = f"{100 * verdicts / planned:.0f}%" if planned else "n/a"
reached = f"{c.get('operations_reached', 0)}/{c.get('operations_discovered', 0)}"
print(f"coverage={reached} operations reached, {share} of planned tests with a verdict" if c else "coverage=")
PY
  else
    printf 'score=\ngrade=\ngrade_status=\nfindings=\ncoverage=\n' >> "$GITHUB_OUTPUT"
  fi
  [ -s "$sarif" ] && echo "sarif=$sarif" >> "$GITHUB_OUTPUT"
  [ -s "$json" ] && echo "json=$json" >> "$GITHUB_OUTPUT"
fi

exit "$code"
