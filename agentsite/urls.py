from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView

from agentsite.api import api, redoc

urlpatterns = [
    path("", TemplateView.as_view(template_name="agentsite/index.html"), name="index"),
    path("admin/", admin.site.urls),
    path("redoc", redoc, name="redoc"),
    path("", api.urls),
]
