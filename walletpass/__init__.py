"""walletpass: Apple Wallet and Google Wallet passes for loyalty programs, self-hosted."""

__version__ = "0.1.0"
