#!/usr/bin/env bash
# Makes sure the load generator `make bench` measures the vendor simulator's
# endpoints with is installed: h2load, from Debian's nghttp2-client (HTTP/2
# with TLS for the APNs endpoint, HTTP/1.1 with --h1 for the others). It is
# a client pushpipe did not write, so the endpoint ceilings it measures do
# not share the sender's strengths or faults.
#
# Installs the package with apt-get when h2load is missing and this runs as
# root on a system with apt-get (as scripts/fetch-chdb.sh does for npm).
# Never fails: when h2load cannot be had it says why on stderr and exits 0,
# and the bench report states that the endpoint ceilings were not measured.
# Prints the path of h2load on stdout when it is available.
set -uo pipefail

log() { printf 'bench-tools: %s\n' "$*" >&2; }

if ! command -v h2load >/dev/null 2>&1; then
	if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
		log "h2load is missing; installing Debian's nghttp2-client"
		if ! { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >&2; }; then
			log "installing nghttp2-client with apt-get failed; the endpoint ceilings will not be measured"
		fi
	else
		log "h2load is missing and cannot be installed here (needs root and apt-get): install nghttp2-client (Debian, Ubuntu) or nghttp2 to measure the endpoint ceilings"
	fi
fi

if command -v h2load >/dev/null 2>&1; then
	command -v h2load
fi
exit 0
