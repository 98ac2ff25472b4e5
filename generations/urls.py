from django.urls import path, re_path

from . import views, webhooks

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("generate/", views.generate, name="generate"),
    path("job-sets/<int:pk>/card/", views.card, name="card"),
    path("job-sets/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("job-sets/<int:pk>/submit-again/", views.submit_again, name="submit-again"),
    path("job-sets/<int:pk>/retry-download/", views.retry_download, name="retry-download"),
    path("hooks/soul/<str:token>/", webhooks.receive, name="soul-webhook"),
    path("spend/chip/", views.spend_chip, name="spend-chip"),
    re_path(r"^images/(?P<pk>[0-9]+)/(?P<kind>raw|min)/$", views.image, name="image"),
]
