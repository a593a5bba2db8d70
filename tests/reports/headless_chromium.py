"""A headless Chromium driven over the DevTools protocol (--remote-debugging-pipe), with the network off.

Every request a page makes is recorded (Network.requestWillBeSent on the page's own session, so the
browser's own background traffic does not count); DNS resolves nothing and any proxied request goes
to a closed port, so a page that needs the internet cannot get it.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--remote-debugging-pipe"]


def chromium_binary() -> str | None:
    """The Chromium executable on PATH (Debian: chromium), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Page:
    """What a page did: the URLs it requested, its DOM after scripts ran, its visible text."""

    requests: list[str] = field(default_factory=list)
    dom: str = ""
    text: str = ""
    values: dict[str, object] = field(default_factory=dict)


class Browser:
    """One Chromium process; open() loads a page in a fresh tab and reports what it did."""

    def __init__(self, binary: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def fds() -> None:  # the pipe protocol: Chromium reads fd 3, writes fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     preexec_fn=fds, pass_fds=(3, 4),  # kept open after preexec_fn
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        """One DevTools command; its result (events seen meanwhile are kept in self.events)."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply is None:
                raise TimeoutError(f"no answer to {method}")
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, deadline: float) -> dict | None:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                return None
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                return None
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def wait_for(self, method: str, session: str, timeout: float = 30) -> None:
        """Wait until the page's session has sent an event (e.g. Page.loadEventFired)."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            event = self._read(deadline)
            if event is None:
                raise TimeoutError(f"no {method}")
            self.events.append(event)

    def open(self, url: str, probes: dict[str, str] | None = None, settle: float = 0.5) -> Page:
        """Load url in a new tab; its requests, DOM, text and JS probes once loaded and scripts had time to run."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Network.enable", session=session)
        self.send("Page.enable", session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        time.sleep(settle)

        def evaluate(expression: str) -> object:
            return self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                             session=session)["result"].get("value", "")

        page = Page(dom=evaluate("document.documentElement.outerHTML"), text=evaluate("document.body.innerText"),
                    values={name: evaluate(js) for name, js in (probes or {}).items()})
        page.requests = [e["params"]["request"]["url"] for e in self.events
                         if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == session]
        self.send("Target.closeTarget", {"targetId": target})
        return page

    def close(self) -> None:
        """End the browser and remove its profile."""
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


def file_url(path: Path) -> str:
    """The file:// URL of a local page."""
    return path.resolve().as_uri()
