"""The Google adapters: the official client libraries behind pullfix's ports."""
