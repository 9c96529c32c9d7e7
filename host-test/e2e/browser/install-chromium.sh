#!/usr/bin/env bash
# Installs Debian's Chromium (and ChromeDriver) for the browser tests in
# host-test/e2e/browser when they are missing. The tests drive
# /usr/bin/chromium over the DevTools protocol (chromedp); chromedriver is
# installed alongside for anyone who prefers WebDriver. Nothing is downloaded
# except Debian packages through apt. Needs root (or sudo).
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
	chromium --version
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-chromium: run as root (or install sudo): apt-get install chromium chromium-driver" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
chromium --version
