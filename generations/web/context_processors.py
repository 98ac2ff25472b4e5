from django.conf import settings

from generations.queries import gateway, teams


def soulsite(request):
    context = {"soul_sandbox": settings.SOUL_SANDBOX}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["gateway_paused"] = gateway.paused()
        context["my_memberships"] = teams.memberships(user)
        context["current_membership"] = teams.current_membership(user)
    return context
