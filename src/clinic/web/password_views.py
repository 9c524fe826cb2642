"""Change one's own password (the page counterpart of POST /api/v1/me/password), and reset a
forgotten one by email."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from clinic.accounts.services import (
    password_reset_done,
    password_reset_requested,
    password_reset_throttle,
    password_reset_tokens,
    user_password_change,
)
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


# --- password reset by email (Django's views and tokens, our templates and rules) -------------


class PasswordResetForm(auth_forms.PasswordResetForm):
    email = forms.EmailField(
        label=gettext_lazy("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "dir": "ltr"}),
    )

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)
        password_reset_requested(context["user"])


class PasswordResetView(auth_views.PasswordResetView):
    """The same answer whatever the email (known, unknown, inactive): the "sent" page. An
    address asking too often gets a 429; an email asked for too often is quietly not sent."""

    form_class = PasswordResetForm
    template_name = "web/password_reset_form.html"
    email_template_name = "web/password_reset_email.txt"
    subject_template_name = "web/password_reset_subject.txt"
    token_generator = password_reset_tokens
    success_url = reverse_lazy("web:password_reset_done")

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=422)
        try:
            may_send = password_reset_throttle(request, form.cleaned_data["email"])
        except TooManyRequests as exc:
            form.add_error(None, exc.message)
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        if not may_send:
            return redirect(self.success_url)
        return self.form_valid(form)

    def form_valid(self, form):
        # the link's address comes from SITE_URL, never from the request's Host header (a forged
        # one would send the token elsewhere) nor its scheme (http behind a TLS proxy)
        site = urlsplit(settings.SITE_URL)
        self.extra_email_context = {
            "domain": site.netloc,
            "site_name": site.netloc,
            "protocol": site.scheme,
        }
        return super().form_valid(form)


class SetPasswordForm(auth_forms.SetPasswordForm):
    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            password_reset_done(user)
        return user


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm
    template_name = "web/password_reset_confirm.html"
    token_generator = password_reset_tokens
    success_url = reverse_lazy("web:password_reset_complete")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/password_reset_done.html"


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/password_reset_complete.html"
