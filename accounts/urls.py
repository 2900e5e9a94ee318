from django.urls import include, path

from accounts.views import auth, dashboard, profile, team

urlpatterns = [
    path("", auth.home, name="home"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
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
    path("dashboard/profile/sessions/", profile.sessions_end, name="profile_sessions_end"),
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
