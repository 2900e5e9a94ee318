from django.urls import path

from payments.views import bank_import, dashboard, desk, documents, pay, statements

urlpatterns = [
    # The callback endpoints are in payments/urls_callbacks.py, first in the tenant URLconf.
    path("dashboard/payments/", dashboard.payment_list, name="payment_list"),
    path("dashboard/payments/record/", desk.payment_record_view, name="payment_record"),
    path("dashboard/payments/settings/", dashboard.payment_settings, name="payment_settings"),
    path("dashboard/payments/settings/register-c2b/", dashboard.payment_register_c2b, name="payment_register_c2b"),
    path("dashboard/payments/requests/", dashboard.payment_requests, name="payment_requests"),
    path("dashboard/payments/<int:pk>/", dashboard.payment_detail, name="payment_detail"),
    path("dashboard/payments/<int:pk>/pdf/", documents.payment_receipt_pdf, name="payment_receipt_pdf"),
    path("dashboard/payments/<int:pk>/reconcile/", dashboard.payment_reconcile, name="payment_reconcile"),
    path("dashboard/payments/<int:pk>/reverse/", dashboard.payment_reverse_view, name="payment_reverse"),
    path("dashboard/payments/statement/", statements.payment_statement, name="payment_statement"),
    path("dashboard/payments/bank-import/", bank_import.payment_bank_import, name="payment_bank_import"),
    path("portal/pay/", pay.portal_pay, name="portal_pay"),
    path("portal/pay/<int:pk>/", pay.portal_request, name="portal_pay_request"),
    path("portal/pay/<int:pk>/status/", pay.portal_request_status, name="portal_pay_status"),
    path("portal/pay/card/return/", pay.portal_card_return, name="portal_card_return"),
    path("portal/payments/", pay.portal_payments, name="portal_payments"),
    path("portal/payments/<int:pk>/", pay.portal_receipt, name="portal_receipt"),
    path("portal/payments/<int:pk>/pdf/", documents.portal_receipt_pdf, name="portal_receipt_pdf"),
    path("pay/<str:token>/", pay.link_pay, name="pay_link"),
    path("pay/<str:token>/<int:pk>/", pay.link_request, name="pay_link_request"),
    path("pay/<str:token>/<int:pk>/status/", pay.link_request_status, name="pay_link_status"),
]
