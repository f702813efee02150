"""A simulated Salesforce org, served over real HTTP at the site root (sandbox only).

Endpoints (all at the root, because simple-salesforce keeps only the host of instance_url):
``/services/oauth2/{authorize,token,revoke}``, ``/id/<org>/<user>``, ``/services/data/`` and,
under ``/services/data/vXX.X/`` (20.0 to 66.0): ``query``, ``queryAll``, ``query/<locator>-<n>``,
``sobjects``, ``sobjects/<type>[/describe|/updated|/deleted|/<id>]``, ``limits``. Pages for a
demo user live under ``/sf/orgs/<id>/``.

Sandbox conveniences, not Salesforce behaviour: a connected app with an empty callback list
accepts any redirect URI; the consent page has no login; sessions expire a fixed time after
issue (Salesforce's timeout slides with activity); ``latestDateCovered`` and windows follow
Salesforce (whole minutes, 30/15 days).

Modules: ``models`` (orgs, apps, tokens, cursors, records), ``describe`` (the field table behind
both describe and SOQL), ``soql`` (lexer, parser, ORM evaluator), ``api``, ``oauth``,
``services`` (writes that move SystemModstamp), ``outbound`` (SOAP notifications), ``seed``.
"""
