from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("generate/", views.generate, name="generate"),
    path("job-sets/<int:pk>/card/", views.card, name="card"),
    path("spend/chip/", views.spend_chip, name="spend-chip"),
    re_path(r"^images/(?P<pk>[0-9]+)/(?P<kind>raw|min)/$", views.image, name="image"),
]
