from django.urls import path
from django.views.decorators.cache import cache_page

from django_site import views

urlpatterns = [
    path("report", views.report),
    path("async-report", views.async_report),
    path("visits", views.visits),
    # Whole responses, cached by Django's middleware (stored as plain data, not pickled).
    path("page", cache_page(60)(views.page)),
]
