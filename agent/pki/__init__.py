"""The shared PKI layer under the engines (docs/ARCHITECTURE.md section 1).

What signing, validation, sealed bids and the key stores all need, and nothing that belongs to one
of them: stream types and chunk size (``streams``), the safe XML parser (``xml_safe``), the
streaming BER reader (``ber``), CMS helpers (``cms``), the guarded ZIP reader (``archive``), the PDF
trailer check (``pdf_trailer``), certificate facts and qualified policies (``cert_facts``), key
usage rules (``key_usage``) and signature policy constants (``policies``).

It imports no other part of the agent but the leaf modules ``agent.errors``, ``agent.i18n``,
``agent.fsutil`` and ``agent.asn1_names`` (import-linter contract ``pki-bottom``).
"""
