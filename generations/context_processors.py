from django.conf import settings

from .models import GatewayState


def soulsite(request):
    context = {"soul_sandbox": settings.SOUL_SANDBOX}
    if getattr(request, "user", None) and request.user.is_authenticated:
        context["gateway_paused"] = GatewayState.objects.filter(pk=1, paused=True).first()
    return context
