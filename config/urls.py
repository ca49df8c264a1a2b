from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext_lazy as _

from accounts import views as account_views

admin.site.site_header = "Darkroom"
admin.site.site_title = "Darkroom"
admin.site.index_title = _("Administration")
# The sidebar took a third of a 1440 px screen from every list; breadcrumbs and the
# index lead everywhere it did.
admin.site.enable_nav_sidebar = False

urlpatterns: list[URLPattern | URLResolver] = [
    # The admin's own sign-in form checks only a password; every way in goes through the
    # portal's, which applies the sign-in rules (accounts.signin). `next` rides along.
    # A signed-in person who is not staff gets the portal's 403 there.
    path("admin/login/", account_views.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/api-keys/", include("accounts.api_keys.urls")),
    # Before generations' /v1 routes, whose catch-all answers every unknown path.
    path("v1/", include("boards.api.urls")),
    path("v1/", include("generations.api.urls")),
    path("boards/", include("boards.urls")),
    path("providers/", include("generations.callbacks.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("reports/", include("generations.reports.urls")),
    path("", include("generations.portal.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)
