#!/usr/bin/env bash
# Make sure a Chromium is available to Playwright, in this order:
#   1. MARKWATCH_CHROMIUM (an executable you name),
#   2. a system chromium on PATH,
#   3. Playwright's own build (`playwright install chromium`, needs internet),
#   4. as root with apt: Debian's `chromium` package;
# else stop and say what to do. Idempotent and quiet when there is nothing to do.
set -u
venv=${VENV:-.venv}

if [ -n "${MARKWATCH_CHROMIUM:-}" ]; then
  if [ -x "$MARKWATCH_CHROMIUM" ]; then exit 0; fi
  echo "MARKWATCH_CHROMIUM=$MARKWATCH_CHROMIUM is not an executable file" >&2
  exit 1
fi
# Screenshots of Chinese, Japanese and Korean marketplaces need CJK fonts (best effort).
ensure_fonts() {
  if command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "CJK"; then return 0; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "markwatch: installing CJK fonts for screenshots (fonts-noto-cjk)..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      fonts-noto-cjk >/dev/null 2>&1 || \
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null 2>&1; } || \
      echo "markwatch: could not install CJK fonts; CJK text will show as boxes" >&2
  fi
  return 0
}
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then ensure_fonts; exit 0; fi
done
# Playwright's own browser, if already downloaded or downloadable.
if [ -x "$venv/bin/playwright" ]; then
  if ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium* >/dev/null 2>&1; then
    exit 0
  fi
  echo "markwatch: no system Chromium; trying 'playwright install chromium'..." >&2
  if timeout 300 "$venv/bin/playwright" install chromium >/dev/null 2>&1; then exit 0; fi
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "markwatch: installing Debian's chromium with apt-get..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && \
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null && \
    { ensure_fonts; exit 0; }
fi
cat >&2 <<'MSG'
markwatch needs Chromium and could not install one. Do one of:
  - install your distribution's chromium package (Debian/Ubuntu: sudo apt-get install chromium),
  - run '.venv/bin/playwright install chromium' on a machine with internet access,
  - set MARKWATCH_CHROMIUM to the path of a Chromium or Chrome executable.
MSG
exit 1
