"""Accounts on Django's own auth views; single sign-on under sso/ (accounts/sso).

Django's views already do everything asked of local accounts (sign in/out, password
change and reset) with their zh-hans translations. django-allauth is used only for
its OpenID Connect provider: its own account views are not mounted, and its signup
switch doesn't cover invite links anyway (the signup policy is a few lines in
accounts/forms.py and accounts/invites.py).
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import mfa_views, views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"
    ),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("signup/", views.signup, name="signup"),
    path("signup/confirm/<str:token>/", views.signup_confirm, name="signup_confirm"),
    path("invite/", views.invite, name="invite"),
    path("usage/", views.usage, name="usage"),
    path("sso/", include("accounts.sso.urls")),
    path("2fa/", mfa_views.manage, name="mfa"),
    path("2fa/verify/", mfa_views.verify, name="mfa_verify"),
]
