"""Browser tests: headless Chromium through the real pages of a live provider."""
