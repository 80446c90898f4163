"""Show the package's own source in the book, so the reader reads the very code the tests check."""

from __future__ import annotations

import ast
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


def strip_docstrings(source: str) -> str:
    """`source` without the docstrings of its module, classes and functions (nested ones too).

    A body left empty by the removal gets `...`, so the result is still valid Python.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a string, got {type(source).__name__}")
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as error:  # IndentationError is a SyntaxError; NUL bytes
        where = f" (line {error.lineno})" if getattr(error, "lineno", None) else ""
        raise ValueError(
            f"source must be Python that parses, got {type(error).__name__}{where}: "
            f"{getattr(error, 'msg', None) or error}"
        ) from None
    lines = source.splitlines()
    drop: dict[int, str | None] = {}  # 0-based line -> replacement (None: delete)
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if not isinstance(node, kinds) or not node.body:
            continue
        first = node.body[0]
        if not (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            continue
        start, end = first.lineno - 1, first.end_lineno - 1
        for i in range(start, end + 1):
            drop[i] = None
        if len(node.body) == 1:  # keep the body valid
            indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
            drop[start] = indent + "..."
    kept = [drop[i] if i in drop else line for i, line in enumerate(lines)]
    return "\n".join(line for line in kept if line is not None) + "\n"


def show_source(obj, *, docstring: bool = False) -> None:
    """Display `obj`'s source: syntax-highlighted in a notebook (and in the built book), plain
    text elsewhere.

    With `docstring=False` (the default) docstrings are left out, so the reader sees the idea:
    the bare kernel, with its shapes and equation numbers in the code. `source_of` keeps them.
    """
    from labs.common.validate import boolean

    docstring = boolean("docstring", docstring)
    source = source_of(obj)
    if not docstring:
        source = strip_docstrings(source)
    if _in_notebook():
        from IPython.display import Code, display

        display(Code(source, language="python"))
    else:
        print(source)
