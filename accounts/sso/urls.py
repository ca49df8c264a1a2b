"""The single sign-on URLs: the OIDC dance plus the few allauth names its flow reverses."""

from allauth.socialaccount import views as social_views
from django.urls import path
from django.views.generic import RedirectView

from accounts.sso import views

urlpatterns = [
    path("oidc/<str:provider_id>/login/", views.login, name="openid_connect_login"),
    path(
        "oidc/<str:provider_id>/login/callback/",
        views.callback,
        name="openid_connect_callback",
    ),
    path("error/", social_views.login_error, name="socialaccount_login_error"),
    path("cancelled/", social_views.login_cancelled, name="socialaccount_login_cancelled"),
    path("signup/", social_views.signup, name="socialaccount_signup"),
    path("inactive/", views.inactive, name="account_inactive"),
    # allauth sends people back to "account_login"; ours is Django's sign-in page.
    path("login/", RedirectView.as_view(pattern_name="login"), name="account_login"),
]
