from django.urls import include, path

from accounts.views import auth, dashboard, two_factor

urlpatterns = [
    path("", auth.home, name="home"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/login/code/", two_factor.login_code, name="two_factor_login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("accounts/welcome/<str:token>/", auth.handoff, name="handoff"),
    path("dashboard/audit/", dashboard.audit_log, name="audit_log"),
    path("dashboard/profile/two-factor/", two_factor.two_factor_status, name="two_factor"),
    path("dashboard/profile/two-factor/setup/", two_factor.two_factor_setup, name="two_factor_setup"),
    path("dashboard/profile/two-factor/recovery-codes/", two_factor.two_factor_recovery_codes,
         name="two_factor_recovery_codes"),
    path("dashboard/profile/two-factor/disable/", two_factor.two_factor_disable, name="two_factor_disable"),
    path("dashboard/settings/security/", two_factor.security_settings, name="security_settings"),
    path("", include("tenants.urls_tenant")),
    path("", include("notifications.urls")),
    path("", include("clients.urls")),
    path("", include("meters.urls")),
    path("", include("billing.urls")),
    path("", include("payments.urls")),
    path("", include("privacy.urls")),
    path("", include("privacy.urls_retention")),
    path("", include("privacy.urls_policy")),
]
