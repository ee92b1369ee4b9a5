"""{% live_topic as topic %}: what the current page's update socket listens
to (snapshots/live/topics.py), for the header (templates/live/_header.html)."""

from django import template

from snapshots.live import topics

register = template.Library()


@register.simple_tag(takes_context=True)
def live_topic(context):
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return topics.page_topic(match.view_name if match else "", context.get("scope"))
