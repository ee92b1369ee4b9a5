"""What every page view shares: the scope in the URL, and full-page-or-partial."""

from functools import wraps

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from snapshots.queries import QueryError, refuse_nul
from snapshots.scope import ScopeNotFound, resolve_scope
from snapshots.states import STATE_CLASSES


def scoped_page(view):
    """Resolve `<scope>` (id, latest, live) into request.snapshot_scope or 404,
    accept only GET/HEAD, refuse a NUL byte anywhere in the URL with a 400,
    and vary the cache on HX-Request (same URL, two bodies). Not
    `request.scope`: under ASGI that is the connection's scope dict, which
    Django still reads (request.is_secure())."""

    @require_safe
    @vary_on_headers("HX-Request")
    @wraps(view)
    def wrapper(request, scope, *args, **kwargs):
        # Checked here, once for every page and parameter (the graph's, the
        # inspector's node id...): PostgreSQL text cannot hold a NUL, so one
        # that reached a query would be a 500 there.
        url_values = [("snapshot id", scope), *kwargs.items()]
        url_values += [(name, v) for name, values in request.GET.lists() for v in values]
        try:
            for name, value in url_values:
                refuse_nul(name, value)
        except QueryError as e:
            return render(request, "pages/bad_request.html", {"error": e}, status=400)
        try:
            request.snapshot_scope = resolve_scope(scope)
            # The view too: retention may delete the snapshot while it reads.
            return view(request, *args, **kwargs)
        except ScopeNotFound:
            raise Http404(f"No snapshot {scope!r}: it may have been pruned.") from None

    return wrapper


def render_page(request, template, context, partial=None):
    """Render the full page, or only its htmx fragment (render_fragment:
    `partial`, a name or a tuple of names) for an htmx request. The page
    includes the very same partials, so both bodies come from one piece of
    markup."""
    context.setdefault("scope", getattr(request, "snapshot_scope", None))
    if partial and request.htmx and not request.htmx.boosted:
        return HttpResponse(render_fragment(template, partial, context, request))
    context.setdefault("state_classes", STATE_CLASSES)
    return render(request, template, context)


def render_fragment(template, partials, context, request=None):
    """A page's htmx fragment: `template#name` for each of `partials`, in
    order, with `fragment` set in the context. The live publisher pushes
    the same function's output (snapshots/live/topics.py), without a
    request: what a page gets live is what htmx gets for its URL."""
    if isinstance(partials, str):
        partials = (partials,)
    context = {"state_classes": STATE_CLASSES, **context, "fragment": True}
    return "".join(render_to_string(f"{template}#{name}", context, request) for name in partials)
