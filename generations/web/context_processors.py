from django.conf import settings

from generations import teams
from generations.models import GatewayState


def soulsite(request):
    context = {"soul_sandbox": settings.SOUL_SANDBOX}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["gateway_paused"] = GatewayState.objects.filter(pk=1, paused=True).first()
        context["my_memberships"] = teams.memberships(user)
        context["current_membership"] = teams.current_membership(user)
    return context
