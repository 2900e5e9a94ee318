from django.urls import path

from accounts.ratelimit import limit_posts
from accounts.views import auth, profile, team, two_factor

urlpatterns = [
    path("", auth.home, name="home"),
    path("accounts/login/", limit_posts("login", fields=("username",))(auth.LoginView.as_view()), name="login"),
    path("accounts/login/code/", two_factor.login_code, name="two_factor_login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", limit_posts("password_reset", fields=("email",))(auth.PasswordResetView.as_view()),
         name="password_reset"),
    path("accounts/password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("accounts/welcome/<str:token>/", auth.handoff, name="handoff"),
    path("accounts/invite/<str:token>/", team.invite_accept, name="staff_invite_accept"),
    path("dashboard/settings/team/", team.team, name="staff_team"),
    path("dashboard/settings/team/invites/<int:pk>/resend/", team.invite_resend, name="staff_invite_resend"),
    path("dashboard/settings/team/invites/<int:pk>/revoke/", team.invite_revoke, name="staff_invite_revoke"),
    path("dashboard/settings/team/<int:pk>/role/", team.change_role, name="staff_change_role"),
    path("dashboard/settings/team/<int:pk>/deactivate/", team.deactivate, name="staff_deactivate"),
    path("dashboard/settings/team/<int:pk>/reactivate/", team.reactivate, name="staff_reactivate"),
    path("dashboard/settings/team/<int:pk>/hand-over/", team.hand_over, name="staff_hand_over"),
    path("dashboard/profile/", profile.profile, name="profile"),
    path("dashboard/profile/password/", profile.password_change, name="profile_password"),
    path("dashboard/profile/language/", profile.language_save, name="profile_language"),
    path("dashboard/profile/sessions/", profile.sessions_end, name="profile_sessions_end"),
    path("dashboard/profile/two-factor/", two_factor.two_factor_status, name="two_factor"),
    path("dashboard/profile/two-factor/setup/", two_factor.two_factor_setup, name="two_factor_setup"),
    path("dashboard/profile/two-factor/recovery-codes/", two_factor.two_factor_recovery_codes,
         name="two_factor_recovery_codes"),
    path("dashboard/profile/two-factor/disable/", two_factor.two_factor_disable, name="two_factor_disable"),
    path("dashboard/settings/security/", two_factor.security_settings, name="security_settings"),
]
