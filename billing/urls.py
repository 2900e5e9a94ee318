from django.urls import path

from billing.views import dashboard, fees, portal

urlpatterns = [
    path("dashboard/billing/", dashboard.run_list, name="run_list"),
    path("dashboard/billing/runs/new/", dashboard.run_start, name="run_start"),
    path("dashboard/billing/runs/<int:pk>/", dashboard.run_detail, name="run_detail"),
    path("dashboard/billing/runs/<int:pk>/recompute/", dashboard.run_recompute, name="run_recompute"),
    path("dashboard/billing/runs/<int:pk>/finalize/", dashboard.run_finalize, name="run_finalize"),
    path("dashboard/billing/runs/<int:pk>/discard/", dashboard.run_discard, name="run_discard"),
    path("dashboard/billing/invoices/", dashboard.invoice_list, name="invoice_list"),
    path("dashboard/billing/invoices/<int:pk>/", dashboard.invoice_detail, name="invoice_detail"),
    path("dashboard/billing/invoices/<int:pk>/pdf/", dashboard.invoice_pdf_view, name="invoice_pdf"),
    path("dashboard/billing/invoices/<int:pk>/credit/", dashboard.invoice_credit, name="invoice_credit"),
    path("dashboard/billing/credit-notes/", dashboard.credit_note_list, name="credit_note_list"),
    path("dashboard/billing/rules/", dashboard.billing_rules, name="billing_rules"),
    path("dashboard/billing/tariffs/", dashboard.tariff_list, name="tariff_list"),
    path("dashboard/billing/tariffs/new/", dashboard.tariff_new, name="tariff_new"),
    path("dashboard/billing/tariffs/<int:pk>/", dashboard.tariff_detail, name="tariff_detail"),
    path("dashboard/clients/<int:pk>/statement/", dashboard.client_statement_page, name="client_statement"),
    path("dashboard/clients/<int:pk>/statement/pdf/", dashboard.client_statement_pdf, name="client_statement_pdf"),
    path("dashboard/clients/<int:pk>/adjust/", dashboard.client_adjust, name="client_adjust"),
    path("dashboard/clients/<int:pk>/entries/<int:entry_id>/reverse/", dashboard.entry_reverse_view,
         name="entry_reverse"),
    path("dashboard/settings/fees/", fees.fee_list, name="fee_list"),
    path("dashboard/settings/fees/<int:pk>/", fees.fee_edit, name="fee_edit"),
    path("portal/statement/", portal.statement, name="portal_statement"),
    path("portal/statement/pdf/", portal.statement_download, name="portal_statement_pdf"),
    path("portal/bills/", portal.invoices, name="portal_invoices"),
    path("portal/bills/<int:pk>/", portal.invoice, name="portal_invoice"),
    path("portal/bills/<int:pk>/pdf/", portal.invoice_download, name="portal_invoice_pdf"),
]
