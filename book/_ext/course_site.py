"""Sphinx extension of the course's site: every page loads each script once.

sphinx-thebe 0.3.1 registers its inline set-up script twice on Sphinx 7 (once with the file name
None, once with ''), so every page declared `const THEBE_JS_URL` twice: a console error that the
browser test (tests/site/test_browser.py) caught. This keeps the first copy of each script.
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", None) or {}
        key = (getattr(script, "filename", str(script)) or "", attributes.get("body"))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
