"""Driving Chromium for a capture: finding the browser, opening pages, capturing them.

`chromium` finds the binary, `download_handler` is scrapy-playwright's handler without a route,
`capture` runs a capture's steps on an open page, `scrolling` and `tabs` are two of its helpers.
"""
