from django.urls import path

from django_site import views

urlpatterns = [
    path("report", views.report),
    path("async-report", views.async_report),
    path("visits", views.visits),
]
