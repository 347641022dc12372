"""Mail: the messages walletpass sends (``message``, PURE) and the SMTP client that sends them (``smtp``)."""
