"""The metadata of the simulated objects: what SOQL may select and what describe answers.

One table drives both, so the query engine and describe can never disagree about a field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models as dj

from sandbox.salesforce import models
from sandbox.salesforce.ids import KEY_PREFIXES

STAGES: tuple[tuple[str, int, bool, bool], ...] = (
    # (value, default probability, IsClosed, IsWon) as in a new org's Stage picklist.
    ("Prospecting", 10, False, False),
    ("Qualification", 10, False, False),
    ("Needs Analysis", 20, False, False),
    ("Value Proposition", 50, False, False),
    ("Id. Decision Makers", 60, False, False),
    ("Perception Analysis", 70, False, False),
    ("Proposal/Price Quote", 75, False, False),
    ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)
STAGE_NAMES = tuple(s[0] for s in STAGES)
PAYMENT_METHODS = ("Credit Card", "Bank Transfer", "Check", "PayPal")
REGIONS = ("North America", "EMEA", "APAC")
XERO_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")
PRODUCT_FAMILIES = ("Widgets", "Gadgets", "Services", "Support", "None")
CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)

STRING_TYPES = frozenset(
    {"id", "string", "picklist", "reference", "textarea", "email", "phone", "url"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass(frozen=True)
class FieldDef:
    name: str
    label: str
    type: str
    orm: str
    """Path for ``QuerySet.values()`` from the object's model (may cross a foreign key)."""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    updateable: bool = True
    createable: bool = True
    custom: bool = False
    picklist: tuple[str, ...] = ()
    picklist_default: str | None = None
    reference_to: str | None = None
    relationship_name: str | None = None
    fk: str | None = None
    """For a reference: the model's foreign-key attribute."""
    multi_currency_only: bool = False
    name_field: bool = False
    unique: bool = False

    @property
    def filterable(self) -> bool:
        # Long text areas cannot be filtered or sorted on, as in Salesforce.
        return not (self.type == "textarea" and self.length > 255)


@dataclass(frozen=True)
class ChildDef:
    name: str
    child: str
    field: str
    fk: str
    """The child model's foreign key to the parent."""
    cascade_delete: bool = True


@dataclass(frozen=True)
class ObjectDef:
    name: str
    label: str
    label_plural: str
    model: type[models.SObject]
    fields: tuple[FieldDef, ...]
    children: tuple[ChildDef, ...] = ()
    requires: tuple[str, ...] = ()
    """Org features (``SalesforceOrg`` flags) without which the object does not exist."""
    setup: bool = False
    """A setup object (CurrencyType...): read through the API, not a business record."""
    _by_name: dict[str, FieldDef] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for f in self.fields:
            self._by_name[f.name.lower()] = f

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def available_in(self, org: models.SalesforceOrg) -> bool:
        return all(getattr(org, flag) for flag in self.requires)

    def visible_fields(self, org: models.SalesforceOrg) -> list[FieldDef]:
        return [f for f in self.fields if org.multi_currency or not f.multi_currency_only]

    def field(self, name: str, org: models.SalesforceOrg) -> FieldDef | None:
        found = self._by_name.get(name.lower())
        if found is None or (found.multi_currency_only and not org.multi_currency):
            return None
        return found

    def relationship(self, name: str) -> FieldDef | None:
        for f in self.fields:
            if f.relationship_name and f.relationship_name.lower() == name.lower():
                return f
        return None

    def child(self, name: str) -> ChildDef | None:
        for c in self.children:
            if c.name.lower() == name.lower():
                return c
        return None


def _id() -> FieldDef:
    return FieldDef(
        "Id",
        "Record ID",
        "id",
        "sf_id",
        length=18,
        nillable=False,
        updateable=False,
        createable=False,
        unique=True,
    )


def _system(multi_currency_picklist: bool = True) -> tuple[FieldDef, ...]:
    dt: dict[str, Any] = {"nillable": False, "updateable": False, "createable": False}
    out = [
        FieldDef("IsDeleted", "Deleted", "boolean", "is_deleted", **dt),
        FieldDef("CreatedDate", "Created Date", "datetime", "created_date", **dt),
        FieldDef("LastModifiedDate", "Last Modified Date", "datetime", "last_modified_date", **dt),
        FieldDef("SystemModstamp", "System Modstamp", "datetime", "system_modstamp", **dt),
    ]
    if multi_currency_picklist:
        out.append(
            FieldDef(
                "CurrencyIsoCode",
                "Currency ISO Code",
                "picklist",
                "currency_iso_code",
                length=3,
                nillable=False,
                multi_currency_only=True,
            )
        )
    return tuple(out)


def _ref(name: str, label: str, target: str, rel: str, fk: str, **kw: Any) -> FieldDef:
    return FieldDef(
        name,
        label,
        "reference",
        f"{fk}__sf_id",
        length=18,
        reference_to=target,
        relationship_name=rel,
        fk=fk,
        **kw,
    )


def _s(name: str, label: str, orm: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, label, kw.pop("type", "string"), orm, length=length, **kw)


def _pick(name: str, label: str, orm: str, values: tuple[str, ...], **kw: Any) -> FieldDef:
    return FieldDef(name, label, "picklist", orm, length=255, picklist=values, **kw)


def _money(name: str, label: str, orm: str, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "currency", orm, precision=18, scale=2, **kw)


OBJECTS: dict[str, ObjectDef] = {}


def _register(obj: ObjectDef) -> None:
    OBJECTS[obj.name.lower()] = obj


_register(
    ObjectDef(
        "Account",
        "Account",
        "Accounts",
        models.Account,
        (
            _id(),
            _s("Name", "Account Name", "name", nillable=False, name_field=True),
            _pick("Type", "Account Type", "type", ACCOUNT_TYPES),
            _s("BillingStreet", "Billing Street", "billing_street", type="textarea"),
            _s("BillingCity", "Billing City", "billing_city", 40),
            _s("BillingState", "Billing State/Province", "billing_state", 80),
            _s("BillingPostalCode", "Billing Zip/Postal Code", "billing_postal_code", 20),
            _s("BillingCountry", "Billing Country", "billing_country", 80),
            _s("Phone", "Account Phone", "phone", 40, type="phone"),
            _s("Website", "Website", "website", type="url"),
            _pick("Region__c", "Region", "region", REGIONS, custom=True),
            *_system(),
        ),
        (
            ChildDef("Contacts", "Contact", "AccountId", "account", cascade_delete=False),
            ChildDef("Opportunities", "Opportunity", "AccountId", "account", False),
        ),
    )
)
_register(
    ObjectDef(
        "Contact",
        "Contact",
        "Contacts",
        models.Contact,
        (
            _id(),
            _ref("AccountId", "Account ID", "Account", "Account", "account"),
            _s("FirstName", "First Name", "first_name", 40),
            _s("LastName", "Last Name", "last_name", 80, nillable=False),
            _s(
                "Name",
                "Full Name",
                "name",
                121,
                updateable=False,
                createable=False,
                nillable=False,
                name_field=True,
            ),
            _s("Email", "Email", "email", 80, type="email"),
            _s("Phone", "Business Phone", "phone", 40, type="phone"),
            *_system(),
        ),
        (ChildDef("OpportunityContactRoles", "OpportunityContactRole", "ContactId", "contact"),),
    )
)
_register(
    ObjectDef(
        "Product2",
        "Product",
        "Products",
        models.Product2,
        (
            _id(),
            _s("Name", "Product Name", "name", nillable=False, name_field=True),
            _s("ProductCode", "Product Code", "product_code"),
            _s("Description", "Product Description", "description", 4000, type="textarea"),
            FieldDef("IsActive", "Active", "boolean", "is_active", nillable=False),
            _pick("Family", "Product Family", "family", PRODUCT_FAMILIES),
            *_system(),
        ),
        (ChildDef("PricebookEntries", "PricebookEntry", "Product2Id", "product"),),
    )
)
_register(
    ObjectDef(
        "Pricebook2",
        "Price Book",
        "Price Books",
        models.Pricebook2,
        (
            _id(),
            _s("Name", "Price Book Name", "name", nillable=False, name_field=True),
            _s("Description", "Description", "description"),
            FieldDef("IsActive", "Active", "boolean", "is_active", nillable=False),
            FieldDef(
                "IsStandard",
                "Is Standard Price Book",
                "boolean",
                "is_standard",
                nillable=False,
                updateable=False,
                createable=False,
            ),
            *_system(multi_currency_picklist=False),
        ),
        (ChildDef("PricebookEntries", "PricebookEntry", "Pricebook2Id", "pricebook"),),
    )
)
_register(
    ObjectDef(
        "PricebookEntry",
        "Price Book Entry",
        "Price Book Entries",
        models.PricebookEntry,
        (
            _id(),
            _s(
                "Name",
                "Product Name",
                "product__name",
                updateable=False,
                createable=False,
                name_field=True,
            ),
            _ref(
                "Pricebook2Id",
                "Price Book ID",
                "Pricebook2",
                "Pricebook2",
                "pricebook",
                nillable=False,
                updateable=False,
            ),
            _ref(
                "Product2Id",
                "Product ID",
                "Product2",
                "Product2",
                "product",
                nillable=False,
                updateable=False,
            ),
            _money("UnitPrice", "List Price", "unit_price", nillable=False),
            FieldDef("IsActive", "Active", "boolean", "is_active", nillable=False),
            FieldDef(
                "UseStandardPrice",
                "Use Standard Price",
                "boolean",
                "use_standard_price",
                nillable=False,
            ),
            _s(
                "ProductCode",
                "Product Code",
                "product__product_code",
                updateable=False,
                createable=False,
            ),
            *_system(),
        ),
    )
)
_register(
    ObjectDef(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        models.Opportunity,
        (
            _id(),
            _ref("AccountId", "Account ID", "Account", "Account", "account"),
            _s("Name", "Name", "name", 120, nillable=False, name_field=True),
            _s("Description", "Description", "description", 32000, type="textarea"),
            _pick("StageName", "Stage", "stage_name", STAGE_NAMES, nillable=False),
            _money("Amount", "Amount", "amount"),
            FieldDef("Probability", "Probability (%)", "percent", "probability", precision=3),
            FieldDef("CloseDate", "Close Date", "date", "close_date", nillable=False),
            FieldDef(
                "IsClosed",
                "Closed",
                "boolean",
                "is_closed",
                nillable=False,
                updateable=False,
                createable=False,
            ),
            FieldDef(
                "IsWon",
                "Won",
                "boolean",
                "is_won",
                nillable=False,
                updateable=False,
                createable=False,
            ),
            _ref("Pricebook2Id", "Price Book ID", "Pricebook2", "Pricebook2", "pricebook"),
            _pick(
                "Payment_Method__c",
                "Payment Method",
                "payment_method",
                PAYMENT_METHODS,
                custom=True,
            ),
            _pick("Region__c", "Region", "region", REGIONS, custom=True),
            _s("Xero_Invoice_Number__c", "Xero Invoice Number", "xero_invoice_number", custom=True),
            _pick("Xero_Status__c", "Xero Status", "xero_status", XERO_STATUSES, custom=True),
            _money("Xero_Amount_Due__c", "Xero Amount Due", "xero_amount_due", custom=True),
            _money("Xero_Amount_Paid__c", "Xero Amount Paid", "xero_amount_paid", custom=True),
            FieldDef("Xero_Paid_Date__c", "Xero Paid Date", "date", "xero_paid_date", custom=True),
            _s("Xero_Invoice_URL__c", "Xero Invoice", "xero_invoice_url", type="url", custom=True),
            *_system(),
        ),
        (
            ChildDef("OpportunityLineItems", "OpportunityLineItem", "OpportunityId", "opportunity"),
            ChildDef(
                "OpportunityContactRoles", "OpportunityContactRole", "OpportunityId", "opportunity"
            ),
        ),
    )
)
_register(
    ObjectDef(
        "OpportunityLineItem",
        "Opportunity Product",
        "Opportunity Product",
        models.OpportunityLineItem,
        (
            _id(),
            _ref(
                "OpportunityId",
                "Opportunity ID",
                "Opportunity",
                "Opportunity",
                "opportunity",
                nillable=False,
                updateable=False,
            ),
            FieldDef("SortOrder", "Sort Order", "int", "sort_order", precision=9),
            _ref(
                "PricebookEntryId",
                "Price Book Entry ID",
                "PricebookEntry",
                "PricebookEntry",
                "pricebook_entry",
                updateable=False,
            ),
            _ref("Product2Id", "Product ID", "Product2", "Product2", "product", updateable=False),
            _s(
                "ProductCode",
                "Product Code",
                "product__product_code",
                updateable=False,
                createable=False,
            ),
            _s(
                "Name",
                "Opportunity Product Name",
                "product__name",
                376,
                updateable=False,
                createable=False,
                name_field=True,
            ),
            FieldDef(
                "Quantity", "Quantity", "double", "quantity", precision=12, scale=2, nillable=False
            ),
            _money("UnitPrice", "Sales Price", "unit_price"),
            _money("ListPrice", "List Price", "list_price", updateable=False, createable=False),
            _money("TotalPrice", "Total Price", "total_price"),
            FieldDef("Discount", "Discount", "percent", "discount", precision=5, scale=2),
            _s("Description", "Line Description", "description"),
            FieldDef("ServiceDate", "Date", "date", "service_date"),
            *_system(),
        ),
    )
)
_register(
    ObjectDef(
        "OpportunityContactRole",
        "Opportunity Contact Role",
        "Opportunity Contact Role",
        models.OpportunityContactRole,
        (
            _id(),
            _ref(
                "OpportunityId",
                "Opportunity ID",
                "Opportunity",
                "Opportunity",
                "opportunity",
                nillable=False,
                updateable=False,
            ),
            _ref("ContactId", "Contact ID", "Contact", "Contact", "contact", nillable=False),
            _pick("Role", "Role", "role", CONTACT_ROLES),
            FieldDef("IsPrimary", "Primary", "boolean", "is_primary", nillable=False),
            *_system(multi_currency_picklist=False),
        ),
    )
)


# The Stage picklist's values with their won and closed flags (a setup object: no IsDeleted,
# read-only through the API).
_register(
    ObjectDef(
        "OpportunityStage",
        "Opportunity Stage",
        "Opportunity Stages",
        models.OpportunityStage,
        (
            _id(),
            FieldDef("ApiName", "Api Name", "string", "api_name", length=255, nillable=False),
            FieldDef(
                "MasterLabel", "Master Label", "string", "master_label", length=255, nillable=False
            ),
            FieldDef("IsActive", "Active", "boolean", "is_active", nillable=False),
            FieldDef("IsClosed", "Closed", "boolean", "is_closed", nillable=False),
            FieldDef("IsWon", "Won", "boolean", "is_won", nillable=False),
            FieldDef(
                "DefaultProbability",
                "Probability (%)",
                "percent",
                "default_probability",
                precision=3,
                scale=0,
            ),
            FieldDef("SortOrder", "Sort Order", "int", "sort_order"),
            *_system(multi_currency_picklist=False)[1:],
        ),
        setup=True,
    )
)


# Setup objects of multi-currency orgs. Both are read-only to the product; neither has
# IsDeleted or CurrencyIsoCode (see the field reference).
_CURRENCY_CODE = "IsoCode"
_register(
    ObjectDef(
        "CurrencyType",
        "Currency Type",
        "Currency Types",
        models.CurrencyType,
        (
            _id(),
            FieldDef(
                _CURRENCY_CODE,
                "Currency ISO Code",
                "picklist",
                "iso_code",
                length=40,
                nillable=False,
                unique=True,
            ),
            FieldDef(
                "ConversionRate",
                "Conversion Rate",
                "double",
                "conversion_rate",
                precision=18,
                scale=6,
                nillable=False,
            ),
            FieldDef("DecimalPlaces", "Decimal Places", "int", "decimal_places", nillable=False),
            FieldDef("IsActive", "Active", "boolean", "is_active", nillable=False),
            FieldDef(
                "IsCorporate", "Corporate Currency", "boolean", "is_corporate", nillable=False
            ),
            *_system(multi_currency_picklist=False)[1:],
        ),
        requires=("multi_currency",),
        setup=True,
    )
)
_register(
    ObjectDef(
        "DatedConversionRate",
        "Dated Conversion Rate",
        "Dated Conversion Rates",
        models.DatedConversionRate,
        (
            _id(),
            FieldDef(
                _CURRENCY_CODE,
                "Currency Code",
                "picklist",
                "iso_code",
                length=40,
                nillable=False,
                updateable=False,
            ),
            FieldDef(
                "ConversionRate",
                "Exchange Rate",
                "double",
                "conversion_rate",
                precision=18,
                scale=6,
                nillable=False,
            ),
            FieldDef("StartDate", "Date", "date", "start_date", nillable=False),
            FieldDef(
                "NextStartDate",
                "Next Start Date",
                "date",
                "next_start_date",
                updateable=False,
                createable=False,
            ),
            *_system(multi_currency_picklist=False)[1:],
        ),
        requires=("multi_currency", "dated_exchange_rates"),
        setup=True,
    )
)


def get_object(name: str, org: models.SalesforceOrg | None = None) -> ObjectDef | None:
    """The object of that name; with ``org``, only if it exists in that org (Salesforce
    answers INVALID_TYPE, or 404 on describe, for CurrencyType in a single-currency org)."""
    found = OBJECTS.get(name.lower())
    if found is not None and org is not None and not found.available_in(org):
        return None
    return found


def objects_of(org: models.SalesforceOrg) -> list[ObjectDef]:
    return [obj for obj in OBJECTS.values() if obj.available_in(org)]


def writable(f: FieldDef, org: models.SalesforceOrg) -> bool:
    """Updateable, and not made read-only for the API user (the org's field-level security)."""
    return f.updateable and f.name not in (org.read_only_fields or [])


def _byte_length(f: FieldDef) -> int:
    return f.length * 3 if f.type in STRING_TYPES else 0


def describe_field(f: FieldDef, org: models.SalesforceOrg) -> dict[str, Any]:
    picklist: list[dict[str, Any]] = []
    currency_list = f.name in ("CurrencyIsoCode", _CURRENCY_CODE)
    values = org.currency_codes if currency_list else f.picklist
    for value in values:
        picklist.append(
            {
                "active": True,
                "defaultValue": value
                == (org.corporate_currency if currency_list else f.picklist_default),
                "label": value,
                "validFor": None,
                "value": value,
            }
        )
    is_text = f.type in STRING_TYPES
    return {
        "aggregatable": f.filterable,
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": _byte_length(f),
        "calculated": False,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": False if f.type == "boolean" else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.type == "boolean" or f.name in {"Id", "CreatedDate"},
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": False,
        "extraTypeInfo": None,
        "filterable": f.filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": f.filterable and f.type not in NUMBER_TYPES,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.name == "Id",
        "inlineHelpText": None,
        "label": f.label,
        "length": f.length if is_text else 0,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": False,
        "nillable": f.nillable,
        "permissionable": f.nillable and f.updateable,
        "picklistValues": picklist,
        "polymorphicForeignKey": False,
        "precision": f.precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": currency_list,
        "scale": f.scale,
        "searchPrefilterable": False,
        "soapType": SOAP_TYPES[f.type],
        "sortable": f.filterable,
        "type": f.type,
        "unique": f.unique,
        "updateable": writable(f, org),
        "writeRequiresMasterRead": False,
    }


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "sobject": base,
        "describe": f"{base}/describe",
        "rowTemplate": f"{base}/{{ID}}",
    }


def global_entry(obj: ObjectDef, version: str) -> dict[str, Any]:
    business = not obj.setup
    return {
        "activateable": False,
        # The object reference's supported calls: CurrencyType can be created, not deleted;
        # DatedConversionRate deleted, not created.
        "createable": business or obj.name == "CurrencyType",
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": business or obj.name == "DatedConversionRate",
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": business,
        "mergeable": obj.name in {"Account", "Contact"},
        "mruEnabled": business,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": business or obj.name == "CurrencyType",
        "triggerable": business,
        "undeletable": business,
        "updateable": True,
        "urls": _urls(obj, version),
    }


def describe_object(obj: ObjectDef, org: models.SalesforceOrg, version: str) -> dict[str, Any]:
    """The describe body; its shape is validated against spec/sobject-describe.json."""
    entry = global_entry(obj, version)
    entry.pop("urls")
    return {
        **entry,
        "actionOverrides": [],
        "childRelationships": [
            {
                "cascadeDelete": c.cascade_delete,
                "childSObject": c.child,
                "deprecatedAndHidden": False,
                "field": c.field,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": c.name,
                "restrictedDelete": False,
            }
            for c in obj.children
        ],
        "compactLayoutable": True,
        "dataTranslationEnabled": False,
        "defaultImplementation": None,
        "fields": [describe_field(f, org) for f in obj.visible_fields(org)],
        "idEnabled": True,
        "implementedBy": None,
        "implementsInterfaces": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
            }
        ],
        "searchLayoutable": True,
        "supportedScopes": [
            {"label": "All " + obj.label_plural.lower(), "name": "everything"},
            {"label": "My " + obj.label_plural.lower(), "name": "mine"},
        ],
        "urlDetail": None,
        "urlEdit": None,
        "urlNew": None,
    }


def model_field_names(model: type[dj.Model]) -> set[str]:
    return {f.name for f in model._meta.get_fields()}
