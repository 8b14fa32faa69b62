from django.contrib import admin
from django.urls import include, path

from agentsite.api import api, redoc
from agentsite.views import index, research_page

handler400 = "agentsite.middleware.bad_request"

urlpatterns = [
    path("", index, name="index"),
    path("ui/research/", research_page, name="research-page"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("redoc", redoc, name="redoc"),
    path("", api.urls),
]
