from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "soulsite administration"
admin.site.site_title = "soulsite admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("generations.web.urls")),
]
