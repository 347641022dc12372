"""The Apple pass package (pure, CPU only): images, pass.strings, pass.json checks, manifest, signature, zip.

Entry points: :class:`PassBuilder` (build signed .pkpass bytes), :class:`PassSigner`,
:func:`check_image` (validate an upload), :func:`validate` (pass.json rules).
"""

from walletpass.pkpass.builder import PassBuilder, PreparedAssets, prepare_assets
from walletpass.pkpass.images import check_image, render_images, render_slot
from walletpass.pkpass.manifest import build_manifest, sha1_hex
from walletpass.pkpass.package import write_files, write_pkpasses, write_zip
from walletpass.pkpass.passjson import dump, validate
from walletpass.pkpass.signing import PassSigner
from walletpass.pkpass.strings import encode_strings, parse_strings

__all__ = [
    "PassBuilder",
    "PassSigner",
    "PreparedAssets",
    "build_manifest",
    "check_image",
    "dump",
    "encode_strings",
    "parse_strings",
    "prepare_assets",
    "render_images",
    "render_slot",
    "sha1_hex",
    "validate",
    "write_files",
    "write_pkpasses",
    "write_zip",
]
