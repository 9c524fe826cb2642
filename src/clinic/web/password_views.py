"""Change one's own password (the page counterpart of POST /api/v1/me/password)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from clinic.accounts.services import user_password_change
from clinic.core.errors import DomainError, TooManyRequests, ValidationFailed
from clinic.web.access import page_requires


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        label=gettext_lazy("Current password"),
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label=gettext_lazy("New password"),
        max_length=1024,
        strip=False,
        help_text=gettext_lazy(
            "At least 12 characters, not like your email or name, not a common password, "
            "not only digits."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


@require_http_methods(["GET", "POST"])
@page_requires()
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            request.keep_writes_on_error = True  # a wrong current password is a failed login
            try:
                user_password_change(
                    request=request,
                    user=request.user,
                    current_password=form.cleaned_data["current_password"],
                    new_password=form.cleaned_data["new_password"],
                )
            except TooManyRequests as exc:
                form.add_error(None, exc.message)
                status = 429
            except ValidationFailed as exc:
                for field, errors in (exc.details or {}).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                update_session_auth_hash(request, request.user)
                messages.success(request, _("Your password has been changed."))
                return redirect("web:home")
    return render(request, "web/password_change.html", {"form": form}, status=status)
