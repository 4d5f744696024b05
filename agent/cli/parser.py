"""The command line's options: one sub-parser a command, written in French (the product's
language); ``agent.cli.help`` gives their English and ``agent.cli.lang`` argparse's own texts."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..i18n import LOCALES
from . import admin, bids, update
from .help import in_language
from .lang import use_argparse_language

#: Parsers built ahead (:func:`build_ahead`) by a process that forks commands, by language.
_BUILT: dict[str, argparse.ArgumentParser] = {}


def parser_in(locale: str) -> argparse.ArgumentParser:
    """The command line's parser in ``locale`` (argparse's own texts already in that language:
    agent.cli.lang): built ahead, once, else now."""
    return _BUILT.pop(locale, None) or in_language(build_parser(), locale)


def build_ahead() -> None:
    """The fork server's warm-up (agent.cli.warm): the parser of each language, as
    :func:`parser_in` would build it, for the commands its children run."""
    for locale in LOCALES:
        use_argparse_language(locale)
        _BUILT[locale] = in_language(build_parser(), locale)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compagnon", description="Compagnon : signature et plis chiffrés, sur votre poste.")
    parser.add_argument("--version", action="version", version=f"compagnon {__version__}",
                        help="afficher la version et quitter")
    # also before the command ("compagnon --lang en sign …"); main reads it from argv (agent.cli.lang)
    parser.add_argument("--lang", dest="main_lang", choices=["fr", "en"], type=str.lower,
                        help="langue des messages (défaut : celle du système, LANG / LC_ALL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="fichier de configuration TOML")
        p.add_argument("--verbose", "-v", action="store_true", help="journal détaillé")
        p.add_argument("--lang", choices=["fr", "en"], type=str.lower,
                       help="langue des messages (défaut : celle du système, LANG / LC_ALL)")

    serve = sub.add_parser("serve", help="lancer l'agent sans icône (headless)")
    common(serve)
    serve.add_argument("--port", type=int, help="port d'écoute (défaut 47230, puis jusqu'à 47233, puis 47234-47329)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="site autorisé à se connecter, ex. https://marches.example.fr (répétable)")

    tray = sub.add_parser("tray", help="lancer l'agent avec son icône et sa console locale")
    common(tray)
    tray.add_argument("--port", type=int, help="port d'écoute (défaut 47230, puis jusqu'à 47233, puis 47234-47329)")

    console = sub.add_parser("console", help="ouvrir la console de l'agent lancé")
    common(console)
    console.add_argument("--section", choices=["accueil", "applications", "traitements", "sites", "journal", "about"],
                         help="rubrique à afficher")

    demo = sub.add_parser("demo", help="lancer l'agent et la plateforme de démonstration")
    common(demo)
    demo.add_argument("--port", type=int, help="port de l'agent")
    demo.add_argument("--demo-port", type=int, default=47280, help="port de la plateforme de démonstration")

    pairings = sub.add_parser("pairings", help="sites autorisés : lister, révoquer")
    common(pairings)
    pairings.add_argument("action", nargs="?", choices=["list", "revoke"], default="list")
    pairings.add_argument("origin", nargs="?", help="site à révoquer")

    certs = sub.add_parser("certs", help="lister les certificats utilisables (signature ou déchiffrement)")
    common(certs)
    certs.add_argument("--purpose", choices=["signing", "decryption", "all"], default="all", type=str.lower,
                       help="usage recherché (all : tous, avec l'usage de chacun)")
    certs.add_argument("--pkcs11", action="append", default=[], type=Path, metavar="MODULE",
                       help="module PKCS#11 en plus des chemins habituels (répétable)")
    certs.add_argument("--p12", action="append", default=[], type=Path, metavar="FICHIER",
                       help="fichier PKCS#12 à ouvrir (mot de passe demandé)")
    certs.add_argument("--pin-stdin", action="store_true", help="lire le mot de passe sur l'entrée standard")
    certs.add_argument("--trust", action="append", default=[], type=Path, metavar="PEM",
                       help="racine de confiance supplémentaire (répétable)")
    certs.add_argument("--json", action="store_true", help="résultat en JSON")

    def key_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--p12", type=Path, metavar="FICHIER", help="certificat logiciel PKCS#12")
        p.add_argument("--pkcs11", type=Path, metavar="MODULE", help="module PKCS#11 de la carte ou de la clé")
        p.add_argument("--token", metavar="LIBELLÉ", help="libellé du support PKCS#11")
        p.add_argument("--key", metavar="LIBELLÉ", help="libellé du certificat sur le support")
        p.add_argument("--cert", metavar="ID", help="certificat d'un magasin du poste (magasin Windows…) : "
                       "son id ou le début de son empreinte SHA-256, tels que « compagnon certs » les affiche")
        p.add_argument("--pin-stdin", action="store_true", help="lire le code PIN / mot de passe sur l'entrée standard")
        p.add_argument("--level", choices=["B-B", "B-T", "B-LT", "B-LTA"], default="B-B", type=str.upper)
        p.add_argument("--tsa", metavar="URL", help="service d'horodatage RFC 3161 (niveaux B-T et plus)")
        p.add_argument("--out-dir", type=Path, metavar="DOSSIER", help="dossier des fichiers signés (défaut : à côté)")

    sign = sub.add_parser("sign", help="signer des fichiers (PAdES, CAdES, XAdES)")
    common(sign)
    sign.add_argument("files", nargs="+", type=Path, metavar="FICHIER",
                      help="fichiers à signer ; un dossier : ses fichiers .xml (flux PES), en une fois")
    sign.add_argument("--format", choices=["pades", "cades", "xades"], required=True, type=str.lower)
    sign.add_argument("--attached", action="store_true", help="CAdES attaché (.p7m) au lieu de détaché (.p7s)")
    sign.add_argument("--enveloped", action="store_true", help="XAdES enveloppé dans le XML signé")
    sign.add_argument("--pes", action="store_true", help="profil PES V2 (Hélios) : une signature par Bordereau")
    sign.add_argument("--role", metavar="RÔLE", help="XAdES : rôle du signataire (PES : requis, ex. Ordonnateur)")
    sign.add_argument("--city", metavar="VILLE", help="XAdES : ville du lieu de signature (PES : requis)")
    sign.add_argument("--postal-code", metavar="CODE", help="XAdES : code postal du lieu de signature (PES : requis)")
    sign.add_argument("--country", metavar="PAYS", help="XAdES : pays du lieu de signature (PES : requis, ex. France)")
    sign.add_argument("--stamp-page", type=int, metavar="N", help="PAdES : cachet visible sur la page N (-1 : dernière)")
    sign.add_argument("--reason", metavar="TEXTE", help="PAdES : motif de la signature")
    key_options(sign)

    cosign = sub.add_parser("cosign", help="ajouter une co-signature CAdES (.p7s, .p7m, .xp7s)")
    common(cosign)
    cosign.add_argument("signature", type=Path, metavar="SIGNATURE")
    cosign.add_argument("--content", type=Path, metavar="FICHIER", help="fichier signé (signature détachée)")
    key_options(cosign)

    counter = sub.add_parser("countersign", help="contre-signer un signataire d'une signature CAdES")
    common(counter)
    counter.add_argument("signature", type=Path, metavar="SIGNATURE")
    counter.add_argument("--signer", required=True, metavar="SHA256", help="empreinte SHA-256 du certificat à contre-signer")
    key_options(counter)

    decrypt = sub.add_parser("decrypt", help="déchiffrer des plis (déchiffrement hors ligne)")
    common(decrypt)
    decrypt.add_argument("files", nargs="+", type=Path, metavar="PLI")
    decrypt.add_argument("--p12", type=Path, metavar="FICHIER", help="bi-clé dans un fichier PKCS#12")
    decrypt.add_argument("--pkcs11", type=Path, metavar="MODULE", help="module PKCS#11 du support")
    decrypt.add_argument("--token", metavar="LIBELLÉ", help="libellé du support PKCS#11")
    decrypt.add_argument("--key", metavar="LIBELLÉ", help="libellé de la clé sur le support")
    decrypt.add_argument("--cert", metavar="ID", help="bi-clé d'un magasin du poste (magasin Windows…) : son id ou "
                         "le début de son empreinte SHA-256, tels que « compagnon certs --purpose decryption » les affiche")
    decrypt.add_argument("--pin-stdin", action="store_true", help="lire le code PIN / mot de passe sur l'entrée standard")
    decrypt.add_argument("--out-dir", type=Path, metavar="DOSSIER", help="dossier des plis déchiffrés (défaut : à côté)")
    decrypt.add_argument("--extract", action="store_true", help="extraire une archive ZIP déchiffrée (en sécurité)")

    encrypt = sub.add_parser("encrypt", help="chiffrer des fichiers pour les certificats de la consultation")
    common(encrypt)
    encrypt.add_argument("files", nargs="+", type=Path, metavar="FICHIER")
    encrypt.add_argument("--to", action="append", required=True, type=Path, metavar="CERT.pem",
                         help="certificat de chiffrement destinataire (répétable)")
    encrypt.add_argument("--algorithm", choices=["aes-256-cbc", "aes-256-gcm", "aes-128-cbc", "aes-128-gcm"],
                         type=str.lower, default="aes-256-cbc")
    encrypt.add_argument("--out-dir", type=Path, metavar="DOSSIER")
    encrypt.add_argument("--deposit", metavar="URL",
                         help="déposer les fichiers chiffrés à cette adresse de la plateforme et afficher l'accusé de réception")
    encrypt.add_argument("--token-stdin", action="store_true", help="lire le jeton d'accès sur l'entrée standard")

    keygen = sub.add_parser("keygen", help="créer un bi-clé de chiffrement (plis chiffrés)")
    common(keygen)
    keygen.add_argument("--name", required=True, metavar="NOM", help="nom de la clé, CN du certificat (ex. « Jean DUPONT »)")
    keygen.add_argument("--secours", action="store_true", help="clé de secours : chaque pli lui sera aussi chiffré")
    keygen.add_argument("--bits", type=int, choices=[2048, 3072, 4096], default=2048, help="taille de la clé RSA")
    keygen.add_argument("--org", metavar="ORGANISATION", help="organisation (champ O du certificat)")
    where = keygen.add_mutually_exclusive_group()
    where.add_argument("--p12", type=Path, metavar="FICHIER",
                       help="fichier PKCS#12 à créer, ou dossier (défaut : le dossier des clés)")
    where.add_argument("--pkcs11", type=Path, metavar="MODULE", help="module PKCS#11 du support (clé non exportable)")
    where.add_argument("--windows", action="store_true",
                       help="dans le magasin de certificats Windows (clé non exportable ; Windows seulement)")
    keygen.add_argument("--token", metavar="LIBELLÉ", help="libellé du support PKCS#11")
    keygen.add_argument("--from-cert", metavar="ID",
                        help="réutiliser la clé de ce certificat (id donné par « compagnon certs --purpose decryption »)")
    keygen.add_argument("--pin-stdin", action="store_true", help="lire le code PIN / mot de passe sur l'entrée standard")
    keygen.add_argument("--cert-out", type=Path, metavar="FICHIER.pem", help="écrire aussi le certificat public (PEM)")

    verify = sub.add_parser("verify", help="vérifier les signatures de fichiers ou de dossiers (un pli), "
                                           "avec un rapport")
    common(verify)
    verify.add_argument("files", nargs="+", type=Path, metavar="FICHIER",
                        help="fichier ou dossier (parcouru) ; plusieurs : un seul rapport pour l'ensemble")
    verify.add_argument("--content", type=Path, metavar="FICHIER",
                        help="fichier signé (signature détachée ; un seul FICHIER)")
    verify.add_argument("--trust", action="append", default=[], type=Path, metavar="PEM",
                        help="racine de confiance supplémentaire (répétable)")
    verify.add_argument("--report", type=Path, metavar="RAPPORT.html", help="écrire le rapport HTML")
    verify.add_argument("--json", action="store_true", help="rapport JSON sur la sortie standard")
    verify.add_argument("--extract", type=Path, metavar="SORTIE",
                        help="écrire le document contenu dans une signature enveloppante (.p7m)")

    bids.add_parsers(sub, common)
    admin.add_parsers(sub, common)
    update.add_parsers(sub, common)

    diag = sub.add_parser("diagnose", help="tester la configuration du poste")
    common(diag)
    diag.add_argument("--platform", metavar="URL", help="plateforme à joindre (origine http(s))")
    diag.add_argument("--json", action="store_true", help="résultat en JSON")
    return parser


__all__ = ["build_ahead", "build_parser", "parser_in"]
