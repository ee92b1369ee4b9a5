"""Instrument every event loop of an unmodified program (what `peepsweb-run` does).

`peepsweb-run` puts `_sitecustomize/` first on PYTHONPATH, so the program's
interpreter runs `bootstrap()` while it starts. That reads the configuration
from the environment, then waits for the program to import asyncio (a Python
process that never uses asyncio pays nothing more) and patches two methods of
`asyncio.BaseEventLoop`, in place and restorably:

- `run_forever`: the first time a loop runs, `aio.install(loop, ...)` is
  called on it, just before it starts. `asyncio.run`, `asyncio.Runner` and
  `run_until_complete` all go through `run_forever`, so every loop the
  program makes is covered, however it makes it;
- `close`: the loop's instrumentation is removed (`aio.uninstall`), which
  stops its pusher thread without waiting on the network.

Instrumentation never breaks the program: an error in it is logged once (on
the "peepsweb.client" logger) and the loop runs uninstrumented.
"""

import math
import os
import sys
import weakref

DEFAULT_URL = "http://127.0.0.1:8000"
LOGGER = "peepsweb.client"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names it."""


class Config:
    """What `aio.install()` is given for each loop. (A plain class: dataclasses
    costs milliseconds to import, in every process peepsweb-run starts.)"""

    def __init__(
        self,
        url=DEFAULT_URL,
        token=None,
        push_interval=5.0,
        pending_threshold=1.0,
        agent=False,
        process=None,  # None: the script or module name (program_name())
    ):
        self.url = url
        self.token = token
        self.push_interval = push_interval
        self.pending_threshold = pending_threshold
        self.agent = agent
        self.process = process

    def __repr__(self):
        shown = {**vars(self), "token": "***" if self.token else None}
        return f"Config({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")


def _seconds(env, name, default, minimum):
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{name}={text!r} must be a number of seconds >= {minimum:g}")
    return value


def config_from_env(env=None):
    """The Config that PEEPSWEB_* variables describe; ConfigError when one is bad."""
    env = os.environ if env is None else env
    url = env.get("PEEPSWEB_URL", "").strip() or DEFAULT_URL
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise ConfigError(f"PEEPSWEB_URL={url!r} must be an http:// or https:// URL")
    agent = env.get("PEEPSWEB_AGENT", "").strip().lower()
    if agent not in TRUE + FALSE:
        raise ConfigError(f"PEEPSWEB_AGENT={agent!r} must be 1 or 0")
    return Config(
        url=url,
        token=env.get("PEEPSWEB_TOKEN", "").strip() or None,
        # Above zero: a zero interval would push on every loop iteration.
        push_interval=_seconds(env, "PEEPSWEB_PUSH_INTERVAL", 5.0, 0.05),
        pending_threshold=_seconds(env, "PEEPSWEB_PENDING_THRESHOLD", 1.0, 0.0),
        agent=agent in TRUE,
        process=env.get("PEEPSWEB_PROCESS", "").strip() or None,
    )


def program_name():
    """The module name under `python -m`, else the script's name without .py."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return spec.name.removesuffix(".__main__")
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if name in ("", "-c", "-m"):
        return "python"
    return name.removesuffix(".py") or "python"


# -- the patch ---------------------------------------------------------------------

_config = None
_originals = None  # (run_forever, close) of BaseEventLoop while patched
_seen = weakref.WeakSet()  # loops already instrumented (or tried)
_logged = set()


def _log_once(key, message, *args, exc_info=False):
    if key in _logged:
        return
    _logged.add(key)
    import logging

    logging.getLogger(LOGGER).warning(message, *args, exc_info=exc_info)


def _instrument(loop):
    try:
        from peepsweb_client import aio

        c = _config
        aio.install(
            loop,
            url=c.url,
            token=c.token,
            push_interval=c.push_interval,
            pending_threshold=c.pending_threshold,
            agent=c.agent,
            process=c.process or program_name(),
        )
    except Exception as e:  # never take the program down; run it uninstrumented
        _log_once(
            "install",
            "peepsweb: cannot instrument the event loop, it runs uninstrumented: %r",
            e,
            exc_info=True,
        )


def _uninstrument(loop):
    aio = sys.modules.get("peepsweb_client.aio")
    if aio is None:
        return
    try:
        aio.uninstall(loop)
    except Exception as e:
        _log_once("uninstall", "peepsweb: removing the instrumentation failed: %r", e)


def enable(config):
    """Patch asyncio.BaseEventLoop so every loop is instrumented when it first
    runs. Idempotent; `disable()` undoes it."""
    global _config, _originals
    import asyncio

    _config = config
    if _originals is not None:
        return
    base = asyncio.BaseEventLoop
    run_forever, close = base.run_forever, base.close

    def peepsweb_run_forever(self):
        if self not in _seen:
            _seen.add(self)
            _instrument(self)
        return run_forever(self)

    def peepsweb_close(self):
        if self in _seen:
            _uninstrument(self)
        return close(self)

    _originals = (run_forever, close)
    base.run_forever = peepsweb_run_forever
    base.close = peepsweb_close


def disable():
    """Restore asyncio.BaseEventLoop's own methods (loops already instrumented
    stay so until they close or aio.uninstall)."""
    global _originals
    if _originals is None:
        return
    import asyncio

    asyncio.BaseEventLoop.run_forever, asyncio.BaseEventLoop.close = _originals
    _originals = None


# -- start-up (from sitecustomize) ------------------------------------------------------


class _AfterImport:
    """A meta path finder that runs `hook()` right after `name` is imported,
    then removes itself: asyncio is patched only if the program imports it."""

    def __init__(self, name, hook):
        self.name = name
        self.hook = hook

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader, hook = spec.loader, self.hook
        exec_module = loader.exec_module

        def exec_then_hook(module):
            # Restore the loader before anything else can see the wrapper.
            del loader.exec_module
            exec_module(module)
            hook()

        loader.exec_module = exec_then_hook
        return spec


def _enable_safely(config):
    try:
        enable(config)
    except Exception as e:
        _log_once("enable", "peepsweb: cannot patch asyncio, running uninstrumented: %r", e)


def bootstrap():
    """Called by `_sitecustomize/sitecustomize.py` at interpreter start."""
    if sys.version_info < (3, 12):  # noqa: UP036 (any python on PATH may start this)
        # `peepsweb-run python app.py` runs whatever `python` is first on
        # PATH, which need not be the one the client was installed with.
        version = ".".join(map(str, sys.version_info[:3]))
        sys.stderr.write(
            f"peepsweb: the client needs Python 3.12 or newer; {sys.executable} is"
            f" Python {version}: running uninstrumented\n"
        )
        return
    try:
        config = config_from_env()
    except ConfigError as e:
        # peepsweb-run checked this before starting the program; a child
        # process whose environment was changed since only loses instrumentation.
        sys.stderr.write(f"peepsweb: {e}; running uninstrumented\n")
        return
    if "asyncio" in sys.modules:
        _enable_safely(config)
    else:
        sys.meta_path.insert(0, _AfterImport("asyncio", lambda: _enable_safely(config)))
