"""A real headless browser (Debian's ``chromium``) driven through the Chrome DevTools Protocol
over ``--remote-debugging-pipe`` (NUL-terminated JSON on descriptors 3 and 4): no WebDriver,
no websocket library. Enough to load a page and report what a user's browser would do with it:
the requests it made, the script errors and console messages, values computed in the page, and
a screenshot."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageVisit:
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    exceptions: list[str] = field(default_factory=list)  # uncaught script errors
    console: list[str] = field(default_factory=list)  # console calls and browser log entries
    values: dict[str, Any] = field(default_factory=dict)  # expression -> its value in the page
    screenshot_png: bytes = b""


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd, self.read_fd = write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        return self.next_id

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed its DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)  # type: ignore[no-any-return]

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout_s: float = 30,
    ) -> dict[str, Any]:
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout_s
        while True:
            message = self._read_message(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]
            self.events.append(message)

    def wait_for(self, method: str, timeout_s: float = 30) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout_s
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method:
                return message
            self.events.append(message)


def visit(chromium: str, url: str, expressions: list[str], settle_s: float = 0.5) -> PageVisit:
    """Load ``url`` in a fresh headless browser profile; evaluate ``expressions`` in the page."""
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def wire() -> None:  # in the child: descriptors 3 and 4, as --remote-debugging-pipe wants
        os.dup2(to_browser_r, 3)
        os.dup2(from_browser_w, 4)

    profile = tempfile.mkdtemp(prefix="aicarbon-chromium-")
    argv = [
        chromium,
        "--headless=new",
        "--remote-debugging-pipe",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=900,1400",
        f"--user-data-dir={profile}",
    ]
    if os.geteuid() == 0:
        argv.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
    browser = subprocess.Popen(
        argv,
        preexec_fn=wire,  # noqa: PLW1509 - the test's own child, before exec
        pass_fds=(3, 4, to_browser_r, from_browser_w),  # 3 and 4: what wire() makes
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_browser_r)
    os.close(from_browser_w)
    pipe = _Pipe(to_browser_w, from_browser_r)
    found = PageVisit()
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Page.navigate", {"url": url}, session=session)
        pipe.wait_for("Page.loadEventFired")
        time.sleep(settle_s)  # anything the page would do after loading, it does now
        for expression in expressions:
            result = pipe.call(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
            )["result"]
            found.values[expression] = result.get("value")
        shot = pipe.call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session
        )
        found.screenshot_png = base64.b64decode(shot["data"])
        for event in pipe.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                found.requests.append(params["request"]["url"])
            elif method == "Runtime.exceptionThrown":
                found.exceptions.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled":
                found.console.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                found.console.append(f"{entry.get('level')}: {entry.get('text')}")
        try:
            pipe.send("Browser.close")
        except OSError:
            pass
    finally:
        os.close(to_browser_w)
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()
        os.close(from_browser_r)
        shutil.rmtree(profile, ignore_errors=True)
    return found


def file_url(path: Path) -> str:
    return path.resolve().as_uri()
