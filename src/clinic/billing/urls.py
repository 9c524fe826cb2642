from django.urls import path

from clinic.billing import views

app_name = "billing"
urlpatterns = [
    path("invoices/", views.invoices, name="invoices"),
    path("invoices/new/", views.invoice_new, name="invoice_new"),
    path("invoices/overdue/", views.overdue, name="overdue"),
    path("invoices/<uuid:invoice_id>/", views.invoice, name="invoice"),
    path("invoices/<uuid:invoice_id>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("invoices/<uuid:invoice_id>/lines/", views.invoice_line_add, name="invoice_line_add"),
    path(
        "invoices/<uuid:invoice_id>/lines/preview/",
        views.invoice_line_preview,
        name="invoice_line_preview",
    ),
    path(
        "invoices/<uuid:invoice_id>/lines/<uuid:line_id>/remove/",
        views.invoice_line_remove,
        name="invoice_line_remove",
    ),
    path(
        "invoices/<uuid:invoice_id>/appointments/",
        views.invoice_appointments_add,
        name="invoice_appointments_add",
    ),
    path("invoices/<uuid:invoice_id>/issue/", views.invoice_issue, name="invoice_issue"),
    path("invoices/<uuid:invoice_id>/delete/", views.invoice_delete, name="invoice_delete"),
    path("invoices/<uuid:invoice_id>/credit/", views.invoice_credit, name="invoice_credit"),
    path("payments/new/", views.payment_new, name="payment_new"),
    path("accounts/<str:kind>/<uuid:payer_id>/", views.account, name="account"),
    path(
        "accounts/<str:kind>/<uuid:payer_id>/statement/",
        views.account_statement,
        name="account_statement",
    ),
]
