"""The authentication backend: Django's ModelBackend, with the password checked inside the
database (see `passwords`) and the session's password fingerprint read with the user."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import get_hasher
from django.db.models.expressions import RawSQL

from clinic.accounts.models import User


class PasswordBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = User.objects.filter(email=str(username).strip().lower()).first()
        if user is None:
            # as long as a real check, so that timing does not tell which emails exist
            get_hasher().encode(password, get_hasher().salt())
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        user = (
            User.objects.annotate(
                password_fingerprint=RawSQL('app_password_fingerprint("accounts_user"."id")', ())
            )
            .filter(pk=user_id)
            .first()
        )
        return user if user is not None and self.user_can_authenticate(user) else None
