"""Users, the tenant (``Account``: one customer company), memberships with roles, invitations.

Xero calls each organisation a "tenant"; to avoid confusion our tenant is always ``Account``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users must have an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address; may belong to several accounts."""

    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can log into the CarryTheOne operator admin site."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    SUPPORT = "support", "Support"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def includes(self, other: Role) -> bool:
        """True if this role may do everything ``other`` may do."""
        return self.rank >= other.rank


_ROLE_RANK = {Role.SUPPORT: 1, Role.ADMIN: 2, Role.OWNER: 3}

ROLE_HELP = {
    Role.OWNER: "Everything, including billing and managing the team.",
    Role.ADMIN: "Connects and configures integrations and mappings.",
    Role.SUPPORT: "Reads sync logs and retries failed records; cannot change configuration.",
}


class Account(models.Model):
    """One customer company: the unit of tenancy, billing and isolation."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        User, through="Membership", related_name="accounts"
    )
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When an owner closed it; its pages are gone since."
    )
    delete_after = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A closed account's data is deleted after this (ACCOUNT_RETENTION_DAYS).",
    )

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("accounts:dashboard", kwargs={"account_slug": self.slug})

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    # Set on the unsaved membership ``accounts.access`` makes for CarryTheOne staff viewing
    # the account as support: read-only, whatever its role allows.
    is_staff_view: bool = False

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=("user", "account"), name="accounts_membership_unique"),
        ]
        ordering = ("account__name", "user__email")

    def __str__(self) -> str:
        return f"{self.user} in {self.account} as {self.role}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def has_role(self, role: Role) -> bool:
        return self.role_enum.includes(role)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """An email invitation to join an account with a role.

    Only a SHA-256 of the token is stored: a database leak must not let anyone join accounts.
    """

    INVITABLE_ROLES: ClassVar[tuple[Role, ...]] = (Role.ADMIN, Role.SUPPORT)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        indexes: ClassVar = [models.Index(fields=("account", "email"))]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.account} as {self.role}"

    @property
    def is_pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class SupportAccessGrantQuerySet(models.QuerySet["SupportAccessGrant"]):
    def active(self, now: Any = None) -> SupportAccessGrantQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class SupportAccessGrant(models.Model):
    """A customer's time-limited permission for CarryTheOne staff to view the account read-only.

    It lives beside memberships (not in ``support``) because ``accounts.access`` checks it on
    every page a staff member views as support: a revoked grant ends the view at once.
    """

    class Duration(models.IntegerChoices):
        DAY = 24, "24 hours"
        THREE_DAYS = 72, "72 hours"
        WEEK = 168, "7 days"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="support_grants")
    granted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="support_grants_given"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = SupportAccessGrantQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes: ClassVar = [models.Index(fields=("account", "expires_at"))]
        permissions: ClassVar = [
            (
                "view_any_account",
                "Can view any customer account as support without the customer's grant "
                "(a reason is required and shown to the account's owners)",
            ),
        ]

    def __str__(self) -> str:
        return f"Support access to {self.account} until {self.expires_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class AccountAuditEntry(models.Model):
    """Who outside the team looked at the account, and who let them: shown to its owners.

    Rows are kept when the actor is deleted (``actor_email`` says who it was).
    """

    class Kind(models.TextChoices):
        STAFF_VIEW = "staff_view", "CarryTheOne staff viewed the account"
        GRANT_CREATED = "grant_created", "Support access granted"
        GRANT_REVOKED = "grant_revoked", "Support access revoked"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_email = models.EmailField(max_length=254, blank=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    detail = models.TextField(blank=True)
    grant = models.ForeignKey(
        SupportAccessGrant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_entries",
        help_text="The customer's grant a staff view relied on (empty: staff permission).",
    )
    at = models.DateTimeField(default=timezone.now)
    page_views = models.PositiveIntegerField(
        default=0, help_text="Pages a staff view opened (counted on the session's row)."
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes: ClassVar = [models.Index(fields=("account", "-at"))]
        verbose_name_plural = "account audit entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor_email} at {self.at:%Y-%m-%d %H:%M}"
