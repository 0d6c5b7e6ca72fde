"""The remediation engine: evidence from the APIs, the ledger, acting once per incident."""
