from __future__ import annotations

from typing import Any

from django import forms

from accounts.forms import PlainLabelsMixin
from alerts.delivery import webhook_url_problem


class AlertSettingsForm(PlainLabelsMixin, forms.Form):
    """The Slack URL is write-only: the page shows its last four characters, an empty field
    keeps it, and "remove" drops it."""

    slack_url = forms.URLField(
        label="Slack-compatible incoming webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(
            attrs={"autocomplete": "off", "placeholder": "https://hooks.slack.com/services/…"}
        ),
        help_text='Also Mattermost, Rocket.Chat or Teams workflows that accept {"text": …}. '
        "Leave empty to keep the one set.",
    )
    remove_slack = forms.BooleanField(label="Remove the webhook", required=False)
    daily_digest = forms.BooleanField(
        label="Email owners and admins a daily digest", required=False
    )
    failure_threshold = forms.IntegerField(
        label="Alert when this many records need a person",
        min_value=1,
        max_value=100_000,
        help_text="Per integration. One message when it is reached, one when at most half "
        "are left.",
    )
    stalled_after_minutes = forms.IntegerField(
        label="Alert when nothing has synced for this many minutes",
        min_value=5,
        max_value=7 * 24 * 60,
        help_text="Never sooner than three of the integration's own poll intervals.",
    )

    def clean_slack_url(self) -> str:
        url: str = self.cleaned_data.get("slack_url") or ""
        if url:
            problem = webhook_url_problem(url)
            if problem:
                raise forms.ValidationError(problem)
        return url

    def slack_change(self) -> str | None:
        """The new URL, "" to remove it, None to keep the stored one."""
        data: dict[str, Any] = self.cleaned_data
        if data.get("remove_slack"):
            return ""
        return data.get("slack_url") or None
