"""Shared fixtures for the initdsl test suite.

* mmengine's (and initdsl's) per-parameter INFO reports are kept quiet;
* ``torch_home`` isolates torch's hub cache (``$TORCH_HOME``) per test;
* ``http_server`` serves a directory on 127.0.0.1 from a background thread
  and stops it when the test ends.
"""

from __future__ import annotations

import functools
import http.server
import logging
import threading

import pytest
import torch


def pytest_configure(config):
    # importing mmengine (the differential oracle) triggers torch.jit deprecation warnings
    for api in ("script", "interface"):
        config.addinivalue_line(
            "filterwarnings", f"ignore:`torch.jit.{api}` is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def _quiet_mmengine_logs():
    """Keep mmengine's per-parameter INFO log from flooding the output."""
    loggers = [logging.getLogger("mmengine")]
    try:  # MMLogger instances live outside logging's registry: set them directly
        from mmengine.logging import MMLogger

        loggers.append(MMLogger.get_current_instance())
    except Exception:  # mmengine not installed: nothing to silence
        pass
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


@pytest.fixture(autouse=True)
def _restore_rng():
    """Tests seed torch freely; leave the global generator as it was."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty, private ``$TORCH_HOME`` so hub downloads cannot leak between tests."""
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return home


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serve ``tmp_path / 'www'`` on 127.0.0.1; yields ``(root_dir, base_url, requests)``.

    ``requests`` lists the paths fetched, so tests can check caching.
    """
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
