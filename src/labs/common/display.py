"""Show the package's own source in the book, so the reader reads the very code the tests check."""

from __future__ import annotations

import inspect
import sys
import textwrap


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def source_of(obj) -> str:
    """The source text of a function, method, class or module from the labs package.

    Raises:
        TypeError: `obj` is not a function, method, class or module (e.g. an instance or a
            builtin, whose source Python does not keep).
    """
    target = inspect.unwrap(obj) if callable(obj) else obj
    kinds = (inspect.isfunction, inspect.ismethod, inspect.isclass, inspect.ismodule)
    if not any(kind(target) for kind in kinds):
        raise TypeError(
            f"obj must be a function, method, class or module, got {type(obj).__name__}"
        )
    try:
        return textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError) as err:
        raise TypeError(f"obj has no Python source to show ({err})") from None


def show_source(obj) -> None:
    """Display `obj`'s source: syntax-highlighted in a notebook (and in the built book), plain
    text elsewhere."""
    source = source_of(obj)
    if _in_notebook():
        from IPython.display import Code, display

        display(Code(source, language="python"))
    else:
        print(source)
