"""Build and CI tooling run from the checkout (`make lock`, `make lint`, `make audit`).

Never installed: setuptools packages only the product's apps.
"""
