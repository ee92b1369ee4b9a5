"""Run by the interpreter at start-up when `peepsweb-run` put this folder on
PYTHONPATH: instruments the program's event loops (peepsweb_client.autoinstall),
then runs the sitecustomize the program would have run without us, if any.

Nothing here may stop the program: every failure is one line on stderr.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_client():
    """peepsweb_client as the interpreter finds it, else the copy this file
    belongs to (the program's `python` may be another interpreter than
    peepsweb-run's, without peepsweb-client installed)."""
    import importlib.util

    if importlib.util.find_spec("peepsweb_client") is None:
        package = os.path.dirname(_HERE)
        spec = importlib.util.spec_from_file_location(
            "peepsweb_client",
            os.path.join(package, "__init__.py"),
            submodule_search_locations=[package],
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["peepsweb_client"] = module
        spec.loader.exec_module(module)
    from peepsweb_client import autoinstall

    return autoinstall


def _chain():
    """Run the next sitecustomize on sys.path (the user's), as if we were not there."""
    import importlib.machinery
    import importlib.util

    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


try:
    _load_client().bootstrap()
except Exception as e:
    sys.stderr.write(f"peepsweb: instrumentation disabled: {e!r}\n")

try:
    _chain()
except Exception:
    # What site.py itself does with a failing sitecustomize: report, go on.
    import traceback

    sys.stderr.write("peepsweb: error in the program's own sitecustomize:\n")
    traceback.print_exc()
