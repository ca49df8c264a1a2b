"""Single sign-on through any OpenID Connect provider (django-allauth's provider only).

Sign-in stays on Django's own views (accounts/urls.py); allauth contributes the OIDC
dance (discovery, PKCE, state, token exchange, ID-token checks) and account linking.
Here: who may come in (adapter), what the directory's groups mean for quota groups
(groups), and clear pages when the provider is down or the dance fails (views).
"""
