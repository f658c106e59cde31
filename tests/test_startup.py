"""What a crawl's start-up imports: extensions switched off are not even loaded (Scrapy imports
an extension's module before the extension can say NotConfigured)."""

from __future__ import annotations

import subprocess
import sys

from scrapy.settings import Settings
from scrapy.utils.conf import build_component_list


def _extensions() -> list[str]:
    settings = Settings()
    settings.setmodule("crawler.settings")
    return [str(e) for e in build_component_list(settings.getwithbase("EXTENSIONS"))]


def test_switched_off_extensions_are_not_in_the_list() -> None:
    names = _extensions()
    assert "crawler.extensions.renderer_guard.RendererGuard" in names
    assert "scrapy.extensions.corestats.CoreStats" in names
    assert not [n for n in names if "remote_control" in n or "telnet" in n]


def test_loading_the_extensions_imports_neither_aiohttp_nor_conch() -> None:
    code = ("import sys\n"
            "from scrapy.settings import Settings\n"
            "from scrapy.utils.conf import build_component_list\n"
            "from scrapy.utils.misc import load_object\n"
            "s = Settings(); s.setmodule('crawler.settings')\n"
            "for name in build_component_list(s.getwithbase('EXTENSIONS')):\n"
            "    load_object(name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('aiohttp')}"
            " | {m for m in sys.modules if m.startswith('twisted.conch')}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"
