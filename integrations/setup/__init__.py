"""The configuration panel: what a person sets up per integration, checked and audited."""
