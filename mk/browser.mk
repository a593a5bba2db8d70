# Headless Chromium for tests/reports/test_browser.py (the release's pages opened from file:// with the
# network off). With CI set, `make test` installs Debian's package when it is missing (needs root, as
# in the CI image); locally the browser test skips with a reason instead.
.PHONY: browser-setup

browser-setup:
	@if [ -n "$$CI" ] && ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing chromium (Debian package) for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
