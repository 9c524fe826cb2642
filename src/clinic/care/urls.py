from django.urls import path

from clinic.care import views

app_name = "care"
urlpatterns = [
    path("", views.plans, name="plans"),
    path("new/", views.plan_new, name="plan_new"),
    path("patient/<uuid:patient_id>/", views.patient_plans, name="patient_plans"),
    path("<uuid:plan_id>/", views.plan_detail, name="plan"),
    path("<uuid:plan_id>/status/", views.plan_status, name="plan_status"),
    path("<uuid:plan_id>/planner/", views.planner, name="planner"),
    path("<uuid:plan_id>/planner/add/", views.planner_add, name="planner_add"),
    path("<uuid:plan_id>/planner/bulk/", views.planner_bulk, name="planner_bulk"),
]
