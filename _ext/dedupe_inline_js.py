"""Drop duplicated inline <script> blocks (Sphinx 7.4 adds late inline scripts twice).

Without it every page throws "Identifier 'THEBE_JS_URL' has already been declared" in the
browser console (tests/test_site.py fails on console errors).
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
