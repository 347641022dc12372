"""``walletpass doctor``: what stands between this instance (or one ``.pkpass``) and a working pass on a phone.

- :mod:`walletpass.doctor.findings`: the :class:`Finding` value each check returns (ok / warn / FAIL / skip).
- :mod:`walletpass.doctor.passfile`: PURE: why a given ``.pkpass`` would not open (zip, manifest, signature,
  chain, pass.json, images, localizations).
- :mod:`walletpass.doctor.cms`: PURE: verify the detached CMS signature of ``manifest.json``.
- :mod:`walletpass.doctor.instance`: ADAPTER: certificates, APNs, Google, Samsung and the base URL of a
  configured instance (reads files, opens connections).
"""
