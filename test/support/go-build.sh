# Shared by the scripts that build test tools from Go modules (test/control-plane/build.sh,
# test/chart-tools/build.sh): source it after setting `tag` (the log prefix) and `out` (the cache directory).
#
#   log MESSAGE                 to stderr, prefixed with [tag]
#   req MODULE                  the version go.mod in $here requires of MODULE
#   ok BINARY EXPECTED ARGS...  $out/BINARY runs and its output for ARGS holds EXPECTED
#   start_build                 makes $out, waits for any other builder of it, clears leftovers, checks go
#   build NAME PACKAGE LDFLAGS  compiles PACKAGE to $out/NAME, never leaving a partial binary under that name

log() { printf '[%s] %s\n' "$tag" "$*" >&2; }

req() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$here/go.mod"; }

ok() {
  local bin="$out/$1" expected="$2" v
  shift 2
  [ -x "$bin" ] || return 1
  v="$("$bin" "$@" 2>&1)" || return 1
  grep -qF -- "$expected" <<<"$v"
}

start_build() {
  mkdir -p "$out"
  # One builder at a time (parallel test workers may all call the script).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$out/.lock"
    flock -n 9 || { log "another build holds $out/.lock; waiting"; flock 9; }
  fi
  # Leftovers of an interrupted build (never under a final name).
  rm -f "$out"/.*.tmp.*
  trap 'exit 130' INT TERM # so the EXIT trap in build removes the temp file
  command -v go >/dev/null 2>&1 || { log "go is not installed"; exit 1; }
  cd "$here"
  export CGO_ENABLED=0
}

# -mod=readonly: build exactly what go.mod/go.sum pin, never edit them. -buildvcs=false: the main packages live in
# dependency modules anyway.
build() {
  local name="$1" pkg="$2" ldflags="$3" start tmp
  start=$(date +%s)
  tmp="$out/.$name.tmp.$$"
  trap "rm -f '$tmp'" EXIT
  log "building $name ($pkg) ..."
  go build -mod=readonly -buildvcs=false -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg" >&2
  mv -f "$tmp" "$out/$name"
  trap - EXIT
  log "built $name in $(($(date +%s) - start))s ($(du -h "$out/$name" | cut -f1))"
}
