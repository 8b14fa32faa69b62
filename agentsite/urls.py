from django.contrib import admin
from django.urls import path

from agentsite.api import api, redoc
from agentsite.views import index

urlpatterns = [
    path("", index, name="index"),
    path("admin/", admin.site.urls),
    path("redoc", redoc, name="redoc"),
    path("", api.urls),
]
