from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from accounts import api as accounts_api
from accounts.permissions import public
from arrears import api as arrears_api
from billing import api as billing_api
from clients import api as clients_api
from fieldwork import api as fieldwork_api
from meters import api as meters_api
from notifications import api as notifications_api
from payments import api as payments_api
from reports import api as reports_api
from tenants import api as tenants_api


@public
@csrf_exempt  # as every API view: nothing here acts on a session
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The 404 of a path under the API that no endpoint has, in the API's error shape."""
    return JsonResponse({"detail": exceptions.NotFound.default_detail}, status=404)

urlpatterns = [
    path("provider/", tenants_api.ProviderDetailApi.as_view(), name="api-provider"),
    path("me/", accounts_api.WhoAmIApi.as_view(), name="api-me"),
    path("staff/", accounts_api.StaffListCreateApi.as_view(), name="api-staff"),
    path("staff/<int:pk>/", accounts_api.StaffDetailApi.as_view(), name="api-staff-member"),
    path("clients/", clients_api.ClientListCreateApi.as_view(), name="api-clients"),
    path("clients/<int:pk>/", clients_api.ClientDetailApi.as_view(), name="api-client"),
    path("clients/<int:pk>/statement/", billing_api.ClientStatementApi.as_view(), name="api-client-statement"),
    path("meters/", meters_api.MeterListCreateApi.as_view(), name="api-meters"),
    path("meters/<int:pk>/", meters_api.MeterDetailApi.as_view(), name="api-meter"),
    path("readings/", meters_api.ReadingCreateApi.as_view(), name="api-readings"),
    path("tariffs/", billing_api.TariffListCreateApi.as_view(), name="api-tariffs"),
    path("readings/bulk/", meters_api.ReadingBulkApi.as_view(), name="api-readings-bulk"),
    path("leak-alerts/", meters_api.LeakAlertListApi.as_view(), name="api-leak-alerts"),
    path("leak-alerts/<int:pk>/close/", meters_api.LeakAlertCloseApi.as_view(), name="api-leak-alert-close"),
    path("billing-runs/", billing_api.BillingRunListCreateApi.as_view(), name="api-billing-runs"),
    path("billing-runs/<int:pk>/", billing_api.BillingRunDetailApi.as_view(), name="api-billing-run"),
    path("billing-runs/<int:pk>/finalize/", billing_api.BillingRunFinalizeApi.as_view(), name="api-billing-run-finalize"),
    path("billing-runs/<int:pk>/recompute/", billing_api.BillingRunRecomputeApi.as_view(),
         name="api-billing-run-recompute"),
    path("invoices/", billing_api.InvoiceListApi.as_view(), name="api-invoices"),
    path("invoices/<int:pk>/", billing_api.InvoiceDetailApi.as_view(), name="api-invoice"),
    path("invoices/<int:pk>/pdf/", billing_api.InvoicePdfApi.as_view(), name="api-invoice-pdf"),
    path("credit-notes/", billing_api.CreditNoteListCreateApi.as_view(), name="api-credit-notes"),
    path("reports/summary/", reports_api.ReportSummaryApi.as_view(), name="api-reports-summary"),
    path("payments/", payments_api.PaymentListCreateApi.as_view(), name="api-payments"),
    path("payments/<int:pk>/reverse/", payments_api.PaymentReverseApi.as_view(), name="api-payment-reverse"),
    path("clients/<int:pk>/pay-link/", payments_api.PayLinkApi.as_view(), name="api-client-pay-link"),
    path("messages/", notifications_api.MessageListApi.as_view(), name="api-messages"),
    path("fees/", billing_api.FeeListCreateApi.as_view(), name="api-fees"),
    path("clients/<int:pk>/charges/", billing_api.ClientChargeApi.as_view(), name="api-client-charges"),
    path("clients/<int:pk>/adjustments/", billing_api.ClientAdjustmentApi.as_view(), name="api-client-adjustments"),
    path("service-requests/", fieldwork_api.ServiceRequestListCreateApi.as_view(), name="api-service-requests"),
    path("work-orders/", fieldwork_api.WorkOrderListApi.as_view(), name="api-work-orders"),
    path("work-orders/<int:pk>/complete/", fieldwork_api.WorkOrderCompleteApi.as_view(), name="api-work-order-complete"),
    path("work-orders/<int:pk>/not-done/", fieldwork_api.WorkOrderNotDoneApi.as_view(), name="api-work-order-not-done"),
    path("payment-plans/", arrears_api.PaymentPlanListCreateApi.as_view(), name="api-payment-plans"),
    path("payment-plans/<int:pk>/", arrears_api.PaymentPlanDetailApi.as_view(), name="api-payment-plan"),
    path("disconnections/", arrears_api.DisconnectionListCreateApi.as_view(), name="api-disconnections"),
    path("disconnections/candidates/", arrears_api.DisconnectionCandidatesApi.as_view(),
         name="api-disconnection-candidates"),
    # Last: an id that is not a number (`/clients/abc/`) or a path the API has not is the API's
    # 404 (`{"detail": ...}`, JSON) rather than the site's HTML page. Only paths ending in "/", so
    # that CommonMiddleware still redirects `/clients` to `/clients/`.
    re_path(r"^[\s\S]*/\Z", not_found, name="api-not-found"),
]
