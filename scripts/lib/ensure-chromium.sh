# Sourced by scripts/test and scripts/suite: makes sure Debian's Chromium and chromedriver are
# installed (as root, or through sudo), or says exactly how to get them.
ensure_chromium() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (Debian packages)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with sudo apt-get" >&2
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the browser driver needs ${missing[*]}." >&2
    echo "  On Debian or Ubuntu: sudo apt-get install -y chromium chromium-driver" >&2
    echo "  Elsewhere: install Chromium and a matching chromedriver and put both on PATH," >&2
    echo "  or run the api driver only: cargo run -p ak-e2e -- run --driver api" >&2
    return 1
  fi
}
