from django.urls import path

from clinic.waitlist import views

app_name = "waitlist"
urlpatterns = [
    path("", views.board, name="board"),
    path("add/", views.entry_add, name="entry_add"),
    path("settings/", views.settings_page, name="settings"),
    path("<uuid:entry_id>/offer/", views.offer_manual, name="offer_manual"),
    path("offer/<str:token>/", views.offer_respond, name="offer_respond"),
]
