from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from agentsite.web.api import api, redoc
from agentsite.web.pages import index, research_page, when_email_configured

handler400 = "agentsite.web.middleware.bad_request"

urlpatterns = [
    path("", index, name="index"),
    path("ui/research/", research_page, name="research-page"),
    # django.contrib.auth.urls, with the password-reset pages only when email can be sent.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password_reset/",
        when_email_configured(auth_views.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        when_email_configured(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        when_email_configured(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        when_email_configured(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
    path("admin/", admin.site.urls),
    path("redoc", redoc, name="redoc"),
    path("", api.urls),
]
