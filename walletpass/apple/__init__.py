"""Apple Wallet as a wallet provider: passes are pushed through APNs and fetched through the web service."""
