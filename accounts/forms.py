from __future__ import annotations

from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth import password_validation
from django.db import transaction
from django.http import HttpRequest

from accounts.models import ROLE_HELP, Invitation, Role, User
from accounts.services import account_create


class PlainLabelsMixin:
    """Labels without Django's trailing colon: they read better above the field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class LoginForm(PlainLabelsMixin, AllauthLoginForm):
    """allauth's login form with our label style."""


class SignupForm(PlainLabelsMixin, AllauthSignupForm):
    """Signup creates the person, their company's Account (as owner) and starts the trial."""

    full_name = forms.CharField(label="Your name", max_length=150)
    company_name = forms.CharField(
        label="Company name",
        max_length=120,
        help_text="The business whose Salesforce deals become Xero invoices. You can rename it.",
    )
    field_order = ("full_name", "company_name", "email", "password1", "password2")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("email", "password1", "password2"):
            if name in self.fields:
                self.fields[name].widget.attrs.pop("placeholder", None)
        self.fields["email"].label = "Work email"
        self.fields["full_name"].widget.attrs["autocomplete"] = "name"
        self.fields["company_name"].widget.attrs["autocomplete"] = "organization"

    def save(self, request: HttpRequest) -> User:
        # The user and their account are created together or not at all.
        with transaction.atomic():
            user: User = super().save(request)
            user.full_name = self.cleaned_data["full_name"].strip()
            user.save(update_fields=["full_name"])
            account_create(owner=user, name=self.cleaned_data["company_name"])
        return user


class AccountCreateForm(PlainLabelsMixin, forms.Form):
    name = forms.CharField(label="Company name", max_length=120)


class AccountRenameForm(PlainLabelsMixin, forms.Form):
    name = forms.CharField(label="Company name", max_length=120)


def _role_choices(roles: tuple[Role, ...]) -> list[tuple[str, str]]:
    return [(role.value, f"{role.label} — {ROLE_HELP[role]}") for role in roles]


class InvitationForm(PlainLabelsMixin, forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(
        label="Role",
        choices=_role_choices(Invitation.INVITABLE_ROLES),
        initial=Role.SUPPORT.value,
        widget=forms.RadioSelect,
    )


class RoleChangeForm(PlainLabelsMixin, forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationSignupForm(PlainLabelsMixin, forms.Form):
    """Sets up a new user from an invitation; the email is the invited address."""

    full_name = forms.CharField(label="Your name", max_length=150)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password (again)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            candidate = User(email=self.email, full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class AccountCloseForm(PlainLabelsMixin, forms.Form):
    confirm_name = forms.CharField(
        label="Type the account's name to confirm",
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
