"""Webhook delivery adapters (the HTTP sender); the rules are walletpass.domain.webhooks."""
