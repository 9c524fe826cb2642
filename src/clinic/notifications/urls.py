from django.urls import path

from clinic.notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.notification_list, name="list"),
    path("bell/", views.bell, name="bell"),
    path("<uuid:notification_id>/read/", views.notification_read, name="read"),
    path("read-all/", views.notifications_read_all, name="read_all"),
    path("settings/", views.my_settings, name="my_settings"),
    path("organization-settings/", views.organization_settings, name="organization_settings"),
    path("deliveries/", views.delivery_list, name="delivery_list"),
    path("deliveries/<uuid:delivery_id>/", views.delivery_detail, name="delivery_detail"),
    path("deliveries/<uuid:delivery_id>/retry/", views.delivery_retry, name="delivery_retry"),
    path(
        "patients/<uuid:patient_id>/preferences/",
        views.patient_preferences,
        name="patient_preferences",
    ),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
