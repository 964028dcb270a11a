#!/usr/bin/env bash
# Installs what the tests drive that is not on a fresh machine: Debian's Chromium for the
# browser tests (Playwright drives it through executablePath; no browser download), and the
# signing tools whose real output the signature-format tests log (GnuPG, OpenSSH, minisign,
# signify-openbsd, OpenSSL). Needs root or passwordless sudo; installs only what is missing.
set -euo pipefail
declare -A PACKAGE=([chromium]=chromium [gpg]=gnupg [ssh-keygen]=openssh-client
                    [minisign]=minisign [signify-openbsd]=signify-openbsd [openssl]=openssl)
missing=()
for cmd in "${!PACKAGE[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGE[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
