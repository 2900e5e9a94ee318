from django.urls import path

from selfservice import views

urlpatterns = [
    path("ussd/<str:token>/", views.ussd, name="ussd_callback"),
    path("sms/inbound/<str:token>/", views.sms_inbound, name="sms_inbound"),
]
