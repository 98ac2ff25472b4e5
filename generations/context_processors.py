from django.conf import settings


def soulsite(request):
    return {"soul_sandbox": settings.SOUL_SANDBOX}
