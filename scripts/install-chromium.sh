#!/usr/bin/env bash
# Installs Debian's chromium package when no Chromium is on PATH and prints
# the browser's path. The console's browser tests (e2e/console_test.go)
# drive it headless. Idempotent: an installed Chromium is used as it is.
#
# Needs: a Debian or Ubuntu machine and root (or sudo) for apt-get.
set -euo pipefail

log() { printf 'install-chromium: %s\n' "$*" >&2; }
die() { printf 'install-chromium: error: %s\n' "$*" >&2; exit 1; }

find_chromium() { command -v chromium || command -v chromium-browser || true; }

path="$(find_chromium)"
if [[ -n "${path}" ]]; then
	printf '%s\n' "${path}"
	exit 0
fi

command -v apt-get >/dev/null || die "no Chromium on PATH and no apt-get to install Debian's chromium package: install Chromium yourself"
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
	command -v sudo >/dev/null || die "no Chromium on PATH, and installing Debian's chromium package needs root: run 'apt-get update && apt-get install -y chromium' as root"
	sudo=(sudo)
fi
log "installing Debian's chromium package (the console's browser tests drive it headless)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update >&2 || die "apt-get update failed"
"${sudo[@]}" apt-get install -y --no-install-recommends chromium >&2 || die "apt-get install chromium failed"
path="$(find_chromium)"
[[ -n "${path}" ]] || die "the chromium package is installed but no chromium is on PATH"
printf '%s\n' "${path}"
