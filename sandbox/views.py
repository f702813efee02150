from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sandbox.salesforce.models import SalesforceOrg
from sandbox.xero.models import XeroOrganisation


def index(request: HttpRequest) -> HttpResponse:
    """The sandbox's front page: the simulated organisations a demo user can browse."""
    context = {
        "xero_orgs": XeroOrganisation.objects.order_by("name"),
        "salesforce_orgs": SalesforceOrg.objects.order_by("name"),
    }
    return render(request, "sandbox/index.html", context)
