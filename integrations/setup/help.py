"""Every option of the configuration panel explained, in one place per provider.

Three sections, as a person thinks about them: what is chosen in Xero (:data:`XERO_OPTIONS`),
what is read from Salesforce (:data:`SALESFORCE_OPTIONS`), and what CarryTheOne itself does
(:data:`BEHAVIOUR`). Keys are SyncConfig keys, or ``<table>.<column>`` for the columns of the
rule tables (payment methods, tax rules, tracking rules). The forms take ``label`` and
``short`` (shown under the field) from here; the templates show ``details`` and ``example``
behind a "?" (a ``<details>`` element, so no script is needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Help:
    label: str
    short: str
    """One sentence under the field."""
    details: str = ""
    """The fuller explanation: what it does, when to change it, what happens otherwise."""
    example: str = ""


# --- Xero options: what is chosen in the Xero organisation -------------------------------------

XERO_OPTIONS: Final[Mapping[str, Help]] = {
    "invoice_status": Help(
        "Invoice status",
        "Whether invoices arrive in Xero as drafts, awaiting approval, or approved.",
        "Draft invoices can be checked and edited in Xero before anyone approves them; they are "
        "not sent to the customer and do not count in reports. Approved (Authorised) invoices "
        "are final at once: they appear in reports, can be emailed and can take payments. "
        "Payments are recorded only on approved invoices.",
        "Choose Draft for the first weeks while you check what arrives, then switch to Approved.",
    ),
    "invoice_number_pattern": Help(
        "Invoice number",
        "Leave empty to let Xero number invoices from its own sequence (INV-0042...).",
        "A pattern builds the number from the opportunity instead, so the same deal always "
        "gets the same number. Placeholders: {opportunity_id}, {name}, {account_id} and "
        "{close_date} (which takes a date format made of %Y %y %m %d %j). The number must be "
        "unique in Xero.",
        "SF-{close_date:%Y}-{opportunity_id} gives SF-2026-006Hs00000AbCdEIAV.",
    ),
    "payment_terms_days": Help(
        "Payment terms (days)",
        "Days after the close date the invoice is due (0 to 3650).",
        "The invoice is dated on the opportunity's close date, and due this many days later. "
        "A payment method can have its own terms (e.g. 0 for cards).",
        "An opportunity closed on 3 March with 30-day terms gets an invoice due 2 April.",
    ),
    "branding_theme_id": Help(
        "Branding theme",
        "The Xero branding theme (logo, layout, payment advice) the invoices use.",
        "Themes are set up in Xero under Settings > Invoice settings. Leave it on Xero's "
        "default to use whichever theme is the default there.",
        'A "Special Projects" theme with a different footer for project invoices.',
    ),
    "sales_account_code": Help(
        "Sales account",
        "The revenue account every invoice line (and every item we create) is posted to.",
        "Only active revenue accounts are offered. The account's default tax rate applies "
        "when tax is left to Xero.",
        "200 Sales, or 260 Other Revenue for services.",
    ),
    "line_amount_types": Help(
        "Amounts are",
        "Whether Salesforce prices include tax, exclude it, or carry none.",
        "Exclusive: Xero adds tax on top of the Salesforce price. Inclusive: the Salesforce "
        "price already contains the tax, and Xero works it out of it. No tax: the lines carry "
        "no tax at all. Xero rounds each line's tax to the cent and then adds them up.",
        "A 100.00 line at 10% is 110.00 in total when Exclusive, and 100.00 (of which 9.09 "
        "tax) when Inclusive.",
    ),
    "default_tax_type": Help(
        "Tax rate",
        "The Xero tax rate lines get when one rate applies to everything (or no rule matches).",
        "Only active rates that can be used on sales are offered, with their rate. With tax "
        "rules it is the fallback for customers no rule covers.",
        "Every line at Tax on Sales 15% in New Zealand.",
    ),
    "export_tax_type": Help(
        "Tax rate for customers abroad",
        "With tax rules: the rate for customers outside the organisation's country that no "
        "rule names.",
        "Typically a zero-rated export rate, so you need not list every country. Leave empty "
        "to use the default rate for them too.",
        "A UK organisation invoicing a customer in Japan uses Zero Rated Income.",
    ),
    "default_currency": Help(
        "Currency of single-currency Salesforce",
        "The currency of opportunities that do not say theirs.",
        "Multi-currency Salesforce orgs put a currency on every opportunity (CurrencyIsoCode) "
        "and this is only the fallback. In a single-currency org every invoice uses it. Leave "
        "it empty for the Xero organisation's base currency.",
        "USD for a US company whose Salesforce has no multi-currency.",
    ),
    "payment_methods.bank_account_code": Help(
        "Bank account",
        "The Xero account the money arrives in; needed to record payments.",
        "Bank accounts are offered with their currency, and also accounts with payments "
        "enabled (e.g. a card clearing account).",
        "090 Business Checking (USD).",
    ),
    "payment_methods.currency_accounts": Help(
        "Accounts per currency",
        "Optional: another bank account for payments in a given currency.",
        "A Xero bank account held in a foreign currency only takes payments in that currency. "
        "Leave a currency empty to use the bank account above.",
        "Euro card payments into 091 Euro Account, everything else into 090.",
    ),
    "payment_methods.invoice_status": Help(
        "Invoice status",
        "Overrides the integration's invoice status for sales paid this way.",
        "Recording a payment needs an approved (Authorised) invoice.",
        "Card sales approved straight away, bank transfers left as drafts.",
    ),
    "payment_methods.payment_terms_days": Help(
        "Payment terms (days)",
        "Leave empty to use the integration's payment terms.",
        "Days after the close date the invoice is due, for sales paid this way.",
        "0 for card payments, which are paid on the day.",
    ),
    "tax_rules.tax_type": Help(
        "Tax rate",
        "The Xero tax rate for customers in that place.",
        "Only active rates usable on sales are offered, with their percentage.",
        "New York customers: New York City Sales Tax (8.875%).",
    ),
    "tracking_rules.category_name": Help(
        "Tracking category",
        "The Xero tracking category every invoice line is tagged with.",
        "Xero allows two active tracking categories, so there are at most two rules. "
        "Categories are created in Xero under Settings > Tracking categories.",
        "Region, or Department.",
    ),
    "tracking_rules.fixed_option": Help(
        "Option",
        "The option every invoice gets.",
        "Pick one of the category's options in Xero, or type a new one (added to Xero only "
        "when adding missing options is on).",
        '"Online shop" for every sale made through this Salesforce org.',
    ),
}


# --- Salesforce options: what is read from the Salesforce org ----------------------------------

SALESFORCE_OPTIONS: Final[Mapping[str, Help]] = {
    "stage": Help(
        "Stage that counts as won",
        "Opportunities reaching this stage are invoiced; leave it on any won stage.",
        "By default every opportunity Salesforce marks as won (IsWon) is invoiced, whatever "
        "the stage is called. Choose one stage when your process has several won stages and "
        "only one of them means 'ready to invoice'. Changing it makes the next sync read "
        "again from the start date.",
        'Only "Closed Won - Signed", not "Closed Won - Verbal".',
    ),
    "stage_confirmed": Help(
        "Invoice at a stage not marked won",
        "Needed only for a stage Salesforce does not mark as won: tick to confirm.",
        "Salesforce says of each stage whether it is won, lost or still open. Invoicing at an "
        "open stage (a signed quote, say) bills customers before the deal is closed, so it "
        "must be confirmed here; a lost stage is never accepted. The confirmation holds for "
        "the stage chosen: choosing another stage asks again.",
        '"Negotiation/Review" when a signed order is your point of invoicing.',
    ),
    "start_date": Help(
        "Start date",
        "Only opportunities closing on or after this date are invoiced.",
        "Older won opportunities are left alone, so switching on does not re-invoice years of "
        "history already in Xero. To bring older ones in, use 'Import history' on the "
        "integration's page. Leave empty to include every close date.",
        "1 July 2026: a deal closed on 30 June is not invoiced, one closed on 1 July is.",
    ),
    "reference_field": Help(
        "Invoice reference",
        "The opportunity field whose value becomes the invoice's Reference in Xero.",
        "The reference shows on the invoice and helps match payments. Text fields are offered; "
        "custom fields are marked.",
        "PO_Number__c puts the customer's purchase order number on the invoice.",
    ),
    "payment_method_field": Help(
        "Payment method field",
        "The opportunity picklist that says how the customer pays.",
        "Each of its values needs a row in the payment methods table below, saying whether to "
        "invoice and whether to record the payment. Leave empty when every sale is paid the "
        "same way (the default payment method).",
        "Payment_Method__c with the values Credit Card, Bank Transfer and Check.",
    ),
    "default_payment_method": Help(
        "Default payment method",
        "For opportunities whose payment method field is blank (or when there is no field).",
        "It must have its own row in the payment methods table. Leave empty: such "
        "opportunities are invoiced and left unpaid.",
        "Bank Transfer, when most customers pay that way.",
    ),
    "tax_field": Help(
        "Tax code field",
        "The Salesforce field holding the Xero tax code or tax rate name.",
        "Opportunity fields and Account fields (Account.…) of text or picklist type are "
        "offered. Its value must name a Xero tax rate by code (TAX001) or name.",
        "Account.Tax_Code__c holding OUTPUT2 for standard-rated customers.",
    ),
    "payment_methods.name": Help(
        "Payment method",
        "The value exactly as Salesforce shows it in the payment method field.",
        "The values of the chosen field are offered; capital letters do not matter.",
        '"Credit Card".',
    ),
    "tracking_rules.field": Help(
        "Salesforce field",
        "The field whose value picks the option (when taken from a field).",
        "Text and picklist fields of the Opportunity and its Account, and the opportunity "
        "owner's name, are offered. A value is used as the option's name unless the mapping "
        "below says otherwise.",
        "Account.Region__c, or Owner.Name to track sales by salesperson.",
    ),
    "tracking_rules.mapping": Help(
        "Values and options",
        "Which Xero option each Salesforce value becomes; leave an option empty to use the "
        "value itself.",
        'A value not listed is used as the option name itself. An empty Salesforce value "" '
        "maps opportunities whose field is blank.",
        "NE → North East, Jane Doe → Sales team A.",
    ),
}


# --- CarryTheOne behaviour: what the sync itself does -------------------------------------------

BEHAVIOUR: Final[Mapping[str, Help]] = {
    "contact_name_collision": Help(
        "Same name, different customer",
        "What to do when Xero already has a contact of that name for another customer.",
        "CarryTheOne finds a customer's Xero contact by the Salesforce Account id it stores in "
        "the contact number, and otherwise by name. Xero does not allow two active contacts "
        "with the same name, so when the contact of that name belongs to another Salesforce "
        "Account: 'Add the Account id' creates a separate contact named 'Name (Account id)'; "
        "'Use that contact' addresses the invoice to the existing contact.",
        'Two Salesforce Accounts both called "Acme Ltd": the second becomes '
        '"Acme Ltd (0015g00000AbCdE)" in Xero.',
    ),
    "create_missing_items": Help(
        "Create missing items",
        "Create a Xero item for a Salesforce product that has none yet.",
        "Items are matched by product code. Off: lines still carry the product's description "
        "and price, without an item code.",
        "A new product WIDGET-XL sold for the first time becomes item WIDGET-XL in Xero.",
    ),
    "tax_mode": Help(
        "How tax is chosen",
        "One rate for everything, by customer location, from a Salesforce field, or left to Xero.",
        "Left to Xero: lines carry no tax rate and Xero applies the account's or item's own. "
        "One rate: every line gets the tax rate below. By location: the tax rules table picks "
        "the rate from the customer's billing country (and state or province in the US, "
        "Canada and Australia). From a field: a Salesforce field holds the tax code.",
        "A US seller using by-location rules: California customers at California Sales Tax, "
        "New York ones at New York City Sales Tax.",
    ),
    "enable_missing_currencies": Help(
        "Enable missing currencies",
        "Turn on a currency in Xero when an opportunity uses one the organisation lacks.",
        "Off: such an opportunity waits and the sync log says which currency to enable. "
        "Multi-currency needs a Xero plan that includes it.",
        "An opportunity in JPY enables JPY in Xero instead of waiting.",
    ),
    "use_salesforce_rates": Help(
        "Use Salesforce's exchange rates",
        "Send Salesforce's conversion rate with foreign-currency invoices.",
        "Off: Xero uses its own daily rate. On: the rate Salesforce holds for the close date "
        "(dated exchange rates, or the org's fixed rates) is sent, so both systems agree on "
        "the amount in your base currency.",
        "A EUR 1,000 deal at Salesforce's 1.08 is booked as USD 1,080.00.",
    ),
    "credit_note_on_withdrawal": Help(
        "Credit withdrawn deals",
        "Raise a credit note when an invoiced opportunity is reopened, lost or deleted.",
        "Off: the invoice stays as it is and the sync log says the opportunity was withdrawn, "
        "for someone to decide.",
        "A deal invoiced on Monday and marked lost on Tuesday gets a credit note for the full "
        "amount.",
    ),
    "void_unpaid_instead": Help(
        "Void unpaid invoices instead",
        "For withdrawn deals: void an unpaid invoice (delete a draft) rather than credit it.",
        "Voiding keeps the books tidy when nothing was paid; a paid or part-paid invoice is "
        "always credited.",
        "An unpaid approved invoice for a lost deal is voided.",
    ),
    "credit_note_on_amount_drop": Help(
        "Credit amount drops",
        "Credit the difference when the amount falls after the invoice was paid.",
        "An unpaid invoice is simply updated to the new amount. Once paid, Xero will not "
        "change it, so the drop is credited instead.",
        "A paid 1,200.00 deal cut to 1,000.00 gets a 200.00 credit note.",
    ),
    "negative_lines": Help(
        "Negative lines",
        "Keep a negative line item (a refund or discount) on the invoice, or move it to a "
        "credit note.",
        "Xero accepts negative lines as long as the invoice total is not negative. Moving them "
        "to a credit note, allocated to the invoice, shows them separately.",
        "A -50.00 'loyalty discount' line becomes a 50.00 credit note.",
    ),
    "writeback_enabled": Help(
        "Write Xero's values back to Salesforce",
        "Show on each opportunity what Xero says of its invoice, seconds after it changes.",
        "Xero tells CarryTheOne of every change to an invoice or credit note (its webhook); "
        "the invoice is read again and the fields chosen below are updated on the opportunity, "
        "only when a value changed, up to 200 opportunities per Salesforce call. Off by "
        "default. Choose fields of their own (custom fields such as Xero_Status__c): fields "
        "used to build invoices cannot be chosen, so a write-back never looks like a change "
        "to invoice. The connected Salesforce user needs edit access to them.",
        "A customer pays by bank transfer; seconds after the payment is reconciled in Xero, "
        "the opportunity shows Xero Status PAID and Amount Due 0.00.",
    ),
    "writeback_fields": Help(
        "Fields written back",
        "For each of Xero's values, the Opportunity field it goes to (or none).",
        "The choices are the Opportunity fields the connected Salesforce user may edit, of a "
        "type that holds the value (text, picklist or URL for words; currency or number for "
        "amounts; date for dates), and not read by the sync. The configuration check tells you "
        "if one is removed or loses its edit access: the write-back then waits, syncing goes "
        "on.",
        "Xero status → Xero_Status__c; amount due → Xero_Amount_Due__c.",
    ),
    "writeback_fields.xero_invoice_number": Help(
        "Xero invoice number",
        "A text field for the invoice's number in Xero.",
        "",
        "INV-0042",
    ),
    "writeback_fields.xero_invoice_status": Help(
        "Xero invoice status",
        "A text or picklist field for DRAFT, SUBMITTED, AUTHORISED, PAID or VOIDED.",
        "A picklist needs those values; a text field takes them as they are.",
        "PAID once the last payment is recorded.",
    ),
    "writeback_fields.xero_amount_due": Help(
        "Amount due",
        "A currency field for what the customer still owes.",
        "In the invoice's currency.",
        "0.00 once paid in full.",
    ),
    "writeback_fields.xero_amount_paid": Help(
        "Amount paid",
        "A currency field for the payments recorded against the invoice.",
        "In the invoice's currency.",
        "600.00 after a first instalment of a 1,200.00 invoice.",
    ),
    "writeback_fields.xero_credited_amount": Help(
        "Amount credited",
        "A currency field for the credit notes allocated to the invoice.",
        "",
        "",
    ),
    "writeback_fields.xero_fully_paid_date": Help(
        "Fully paid on",
        "A date field for the day the invoice became paid in full (empty until then).",
        "",
        "",
    ),
    "writeback_fields.xero_invoice_url": Help(
        "Link to the invoice in Xero",
        "A URL field: one click from the opportunity to the invoice in Xero.",
        "",
        "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=…",
    ),
    "payment_methods.create_invoice": Help(
        "Create an invoice",
        "Turn off for sales already recorded elsewhere.",
        "Off: opportunities paid this way are skipped, and the log says so.",
        "'Paid in shop' sales rung up through the till.",
    ),
    "payment_methods.apply_payment": Help(
        "Record the payment",
        "Mark the invoice paid in Xero straight away, into the bank account below.",
        "For payments you know arrive (card, PayPal). Needs approved invoices.",
        "A card sale closed on 3 March is paid in full on 3 March (plus any clearing delay).",
    ),
    "payment_methods.clearing_delay_days": Help(
        "Clearing delay (days)",
        "Days between the close date and the money reaching the bank (0 to 365).",
        "The payment is dated that many days after the close date.",
        "2 for card settlements: a sale on 3 March is paid on 5 March.",
    ),
    "tax_rules.country": Help(
        "Country",
        "The customer's billing country (a 2-letter code or its name).",
        "Read from the Account's Billing Country in Salesforce.",
        "US, GB, CA or Deutschland (saved as DE).",
    ),
    "tax_rules.region": Help(
        "State / province",
        "Optional, for the US, Canada and Australia; empty for the whole country.",
        "A rule for a state or province wins over the rule for its whole country.",
        "NY, ON or NSW.",
    ),
    "tracking_rules.source": Help(
        "Option from",
        "The same option on every invoice, or one picked from a Salesforce field.",
        "",
        "",
    ),
    "tracking_rules.create_missing_options": Help(
        "Add missing options",
        "Add an option to the Xero category when it does not exist yet.",
        "Off: the opportunity waits and the sync log says which option to add in Xero.",
        "A new Salesforce region 'LATAM' becomes a new option of the Region category.",
    ),
}


ALL: Final[Mapping[str, Help]] = {**XERO_OPTIONS, **SALESFORCE_OPTIONS, **BEHAVIOUR}

SECTION_OF: Final[Mapping[str, str]] = {
    **dict.fromkeys(XERO_OPTIONS, "Xero"),
    **dict.fromkeys(SALESFORCE_OPTIONS, "Salesforce"),
    **dict.fromkeys(BEHAVIOUR, "CarryTheOne"),
}


def help_for(key: str) -> Help:
    """The help for a SyncConfig key or ``<table>.<column>``; KeyError for an unknown one."""
    return ALL[key]
