#!/usr/bin/env bash
# Lints the container files without a Docker engine:
#   Dockerfile          hadolint (when installed), dockerfile-utils lint, and ShellCheck on the
#                       body of every RUN instruction (hadolint's built-in ShellCheck pass,
#                       for machines without hadolint)
#   docker-compose.yml  `docker compose config` (Compose v2 plugin) or else `docker-compose
#                       config` (v1): interpolation and the Compose schema, all profiles;
#                       dclint: the compose-spec JSON schema plus its best-practice rules;
#                       yamllint
#   this script         shellcheck
#
# It installs nothing. A tool is looked up on PATH, then in the repo's node_modules/.bin, then
# in $LINT_TOOLS_DIR (default /tmp/lint/node_modules/.bin). To get them:
#   apt-get install shellcheck yamllint docker-compose        # Debian/Ubuntu
#   npm install --prefix /tmp/lint dclint@3.1.0 dockerfile-utils@0.16.3
#     (or the same two as devDependencies of the repo)
#   hadolint: a release binary on PATH (Debian bookworm has no package; optional here)
#
# Usage: scripts/lint-containers.sh [--allow-missing]
# Exit status: 0 every linter ran and found nothing; 1 findings; 2 a required linter is
# missing (with --allow-missing it is skipped with a notice, and only findings fail).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
LINT_TOOLS_DIR="${LINT_TOOLS_DIR:-/tmp/lint/node_modules/.bin}"

allow_missing=0
for arg in "$@"; do
  case "$arg" in
    --allow-missing) allow_missing=1 ;;
    -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

DOCKERFILE=Dockerfile
COMPOSE=docker-compose.yml
SELF=scripts/lint-containers.sh

findings=0
missing=()
skipped=()
ran=()
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

section() { printf '\n== %s\n' "$*"; }
failed() { echo "FAIL: $*"; findings=$((findings + 1)); }
passed() { echo "ok: $*"; ran+=("$1"); }
# not_found NAME HOW-TO-GET-IT
not_found() { echo "MISSING: $1 (install: $2)"; missing+=("$1"); }

# find_tool NAME: prints the path of NAME, or nothing.
find_tool() {
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  elif [ -x "$ROOT/node_modules/.bin/$1" ]; then
    echo "$ROOT/node_modules/.bin/$1"
  elif [ -x "$LINT_TOOLS_DIR/$1" ]; then
    echo "$LINT_TOOLS_DIR/$1"
  fi
}

for f in "$DOCKERFILE" "$COMPOSE" .dockerignore; do
  [ -f "$f" ] || failed "$f does not exist"
done

# --------------------------------------------------------------------------------- Dockerfile
section "Dockerfile: hadolint"
hadolint_bin="$(find_tool hadolint)"
if [ -n "$hadolint_bin" ]; then
  # Default failure threshold (info): any finding fails.
  if "$hadolint_bin" "$DOCKERFILE"; then passed hadolint; else failed hadolint; fi
else
  # Optional: its rule set is covered in part by the two checks below.
  echo "skipped: hadolint not installed (optional; a release binary from the hadolint project," \
    "or the hadolint/hadolint image on a machine with a Docker engine)"
  skipped+=("hadolint (optional)")
fi

section "Dockerfile: dockerfile-utils lint"
du_bin="$(find_tool dockerfile-utils)"
if [ -z "$du_bin" ]; then
  not_found dockerfile-utils "npm install --prefix /tmp/lint dockerfile-utils@0.16.3"
else
  # It exits 0 on warnings, so any output at all counts as a finding.
  out="$("$du_bin" lint "$DOCKERFILE" 2>&1)"; rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out"; failed dockerfile-utils
  else
    passed dockerfile-utils
  fi
fi

section "Dockerfile: shellcheck on RUN instructions"
sc_bin="$(find_tool shellcheck)"
if [ -z "$sc_bin" ]; then
  not_found shellcheck "apt-get install shellcheck"
else
  # Writes the shell-form body of every RUN to $tmp/runN.sh, with $tmp/runN.map giving the
  # Dockerfile line of each script line, $tmp/runN.off the column where the body starts and
  # $tmp/runN.shell the stage's SHELL (sh or bash).
  # Comment and blank lines inside a continued instruction are dropped, as Docker drops them.
  awk -v dir="$tmp" '
    function shell_of(s) { return (s ~ /bash/) ? "bash" : "sh" }
    BEGIN { n = 0; cont = 0; inrun = 0; sh = "sh" }
    {
      line = $0
      if (cont) {
        if (line ~ /^[ \t]*(#.*)?$/) next
        if (inrun) { print line > (dir "/run" n ".sh"); print NR > (dir "/run" n ".map") }
        cont = (line ~ /\\[ \t]*$/)
        if (!cont) inrun = 0
        next
      }
      if (line ~ /^[ \t]*(#.*)?$/) next
      cont = (line ~ /\\[ \t]*$/)
      if (match(line, /^[ \t]*[Ff][Rr][Oo][Mm][ \t]/)) { sh = "sh"; next }
      if (match(line, /^[ \t]*[Ss][Hh][Ee][Ll][Ll][ \t]/)) { sh = shell_of(line); next }
      if (match(line, /^[ \t]*[Rr][Uu][Nn][ \t]+/)) {
        off = RLENGTH; body = substr(line, RLENGTH + 1)
        while (match(body, /^--[A-Za-z-]+(=[^ \t]*)?[ \t]*/)) {
          off += RLENGTH; body = substr(body, RLENGTH + 1)
        }
        if (body ~ /^\[/ || body ~ /^<</) { inrun = 0; next }   # exec form or heredoc
        n++; inrun = cont
        print body > (dir "/run" n ".sh"); print NR > (dir "/run" n ".map")
        print sh > (dir "/run" n ".shell"); print off > (dir "/run" n ".off")
      }
    }' "$DOCKERFILE"
  sc_out=""
  nrun=0
  for script in "$tmp"/run*.sh; do
    [ -e "$script" ] || continue
    base="${script%.sh}"
    nrun=$((nrun + 1))
    dialect="$(cat "$base.shell")"
    # gcc format: FILE:LINE:COL: LEVEL: MESSAGE [SCxxxx]; LINE is mapped back to the Dockerfile.
    res="$("$sc_bin" -s "$dialect" -f gcc "$script" 2>&1)" || true
    if [ -n "$res" ]; then
      # (the first line's columns shift by the width of `RUN ` and its flags)
      sc_out+="$(awk -F: -v df="$DOCKERFILE" -v off="$(cat "$base.off")" '
        NR == FNR { map[FNR] = $0; next }
        { l = $2; c = $3 + (l == 1 ? off : 0); $1 = $2 = $3 = ""; sub(/^:::/, "")
          print df ":" map[l] ":" c ":" $0 }' OFS=: "$base.map" - <<<"$res")"$'\n'
    fi
  done
  if [ -n "$sc_out" ]; then
    printf '%s' "$sc_out"; failed "shellcheck (RUN)"
  elif [ "$nrun" -eq 0 ]; then
    failed "shellcheck (RUN): no RUN instruction found; the extraction is broken"
  else
    echo "($nrun RUN instructions checked)"; passed "shellcheck (RUN)"
  fi
fi

# ------------------------------------------------------------------------- docker-compose.yml
section "docker-compose.yml: compose config (schema, interpolation, all profiles)"
if docker compose version >/dev/null 2>&1; then
  if docker compose -f "$COMPOSE" --profile gpu config --quiet; then
    passed "docker compose config"
  else
    failed "docker compose config"
  fi
elif command -v docker-compose >/dev/null 2>&1; then
  # docker-compose 1.x predates the top-level `name:` field (Compose v2): check a copy
  # without it. Everything else in the file is understood by 1.28+.
  grep -v '^name:' "$COMPOSE" >"$tmp/compose-v1.yml"
  if docker-compose -f "$tmp/compose-v1.yml" --project-directory "$ROOT" --profile gpu \
    config --quiet; then
    passed "docker-compose config ($(docker-compose version --short 2>/dev/null))"
  else
    failed "docker-compose config"
  fi
else
  not_found "docker compose / docker-compose" \
    "the Docker Compose v2 plugin, or apt-get install docker-compose"
fi

section "docker-compose.yml: dclint (compose-spec JSON schema + rules)"
dclint_bin="$(find_tool dclint)"
if [ -z "$dclint_bin" ]; then
  not_found dclint "npm install --prefix /tmp/lint dclint@3.1.0"
else
  # Rule left out: service-keys-order wants a service's `<<: *fitwell` merge key last, while
  # this file opens each service with it (the shared settings first, overrides after).
  # --max-warnings 0: warnings fail too.
  if "$dclint_bin" "$COMPOSE" --no-color --max-warnings 0 \
    --disable-rule service-keys-order; then
    passed dclint
  else
    failed dclint
  fi
fi

section "docker-compose.yml: yamllint"
yl_bin="$(find_tool yamllint)"
if [ -z "$yl_bin" ]; then
  not_found yamllint "apt-get install yamllint"
else
  # Compose files carry no `---` document start; lines up to 100 columns.
  yl_conf='{extends: default, rules: {line-length: {max: 100}, document-start: disable}}'
  if "$yl_bin" --strict -d "$yl_conf" "$COMPOSE"; then passed yamllint; else failed yamllint; fi
fi

# ----------------------------------------------------------------------------- this script
section "$SELF: shellcheck"
if [ -n "$sc_bin" ]; then
  if "$sc_bin" "$SELF"; then passed "shellcheck ($SELF)"; else failed "shellcheck ($SELF)"; fi
else
  echo "skipped: shellcheck missing (see above)"
fi

# ---------------------------------------------------------------------------------- summary
section summary
join() { local out; printf -v out '%s; ' "$@"; echo "${out%; }"; }
echo "ran clean: $(join "${ran[@]}")"
if [ "${#skipped[@]}" -gt 0 ]; then
  echo "not run: $(join "${skipped[@]}")"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "missing: $(join "${missing[@]}")"
fi
if [ "$findings" -gt 0 ]; then
  echo "RESULT: $findings check(s) with findings"
  exit 1
fi
if [ "${#missing[@]}" -gt 0 ] && [ "$allow_missing" -eq 0 ]; then
  echo "RESULT: no findings, but ${#missing[@]} linter(s) missing (see above; --allow-missing to pass anyway)"
  exit 2
fi
echo "RESULT: no findings"
exit 0
