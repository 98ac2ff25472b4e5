from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from generations.web.login import LoginForm

admin.site.site_header = "soulsite administration"
admin.site.site_title = "soulsite admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's own accounts URLs, so the login form checks the username's length.
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("generations.web.urls")),
]
