"""``compagnon``: the command line. A thin shell over the same service and job kinds as the bridge.

    compagnon serve [--port N] [--allow-origin ORIGIN ...] [--config FILE]
    compagnon tray  [--port N] [--config FILE]     the agent with its icon and local console
    compagnon console [--section SECTION]          open the running agent's console
    compagnon demo  [--port N] [--demo-port N] [--config FILE]
    compagnon diagnose [--platform URL] [--json]
    compagnon bids download|open URL [--token-stdin] ...   (see agent/cli_bids.py)
    compagnon audit [show [--json] [--last N] | verify | export FILE]   (see agent/cli_admin.py)
    compagnon doctor [--platform URL] [--bundle [FILE.zip]]
    compagnon update [check | apply | status] [--json]   signed updates (see agent/cli_update.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .i18n import Text, human_date, human_datetime

from .cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PROMPTS,
    _CliConsent,
    _diagnose,
    _fail,
    _run_job,
    _select_key,
    _sep,
    read_secret,
    say,
    signature_line,
)

if TYPE_CHECKING:
    from .config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compagnon", description="Compagnon : signature et plis chiffrés, sur votre poste.")
    parser.add_argument("--version", action="version", version=f"compagnon {__version__}",
                        help="afficher la version et quitter")
    # also before the command ("compagnon --lang en sign …"); main reads it from argv (agent.cli_lang)
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

    from . import cli_bids

    cli_bids.add_parsers(sub, common)

    from . import cli_admin

    cli_admin.add_parsers(sub, common)

    from . import cli_update

    cli_update.add_parsers(sub, common)

    diag = sub.add_parser("diagnose", help="tester la configuration du poste")
    common(diag)
    diag.add_argument("--platform", metavar="URL", help="plateforme à joindre (origine http(s))")
    diag.add_argument("--json", action="store_true", help="résultat en JSON")
    return parser


def _bids(args: argparse.Namespace, settings: Settings) -> int:
    from . import cli_bids

    return cli_bids.run(args, settings)


def _admin(args: argparse.Namespace, settings: Settings) -> int:
    from . import cli_admin

    return cli_admin.run(args, settings)


def _update(args: argparse.Namespace, settings: Settings) -> int:
    from . import cli_update

    return cli_update.run(args, settings)


def _settings(args: argparse.Namespace) -> Settings:
    from .config import load_settings

    settings = load_settings(args.config)
    if getattr(args, "port", None):
        from dataclasses import replace

        settings = replace(settings, port=args.port)
    if getattr(args, "allow_origin", None):
        if "bridge.allowed_origins" in settings.policy_locks:
            print(say(Text("compagnon : --allow-origin ignoré : la politique d'administration ({path}) fixe les "
                           "sites autorisés", "compagnon: --allow-origin ignored: the administration policy ({path}) "
                           "sets the allowed sites"), path=settings.policy_path), file=sys.stderr)
        settings = settings.with_origins(args.allow_origin)
    return settings


def _utf8_pipes() -> None:
    """Windows: text written to a pipe or a file is UTF-8, as on the other systems (Python would use
    the ANSI code page, which cannot write every name). A console keeps its wide-character output."""
    if sys.platform != "win32":
        return
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if stream is not None and not stream.isatty() and hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")


def main(argv: list[str] | None = None) -> int:
    from .process_guard import forbid_core_dumps

    forbid_core_dumps()
    _utf8_pipes()
    from . import cli_common
    from .cli_lang import cli_locale, use_argparse_language

    locale = cli_locale(sys.argv[1:] if argv is None else argv)
    use_argparse_language(locale)
    cli_common.CLI_LOCALE = locale
    from .cli_help import in_language

    args = in_language(_parser(), locale).parse_args(argv)
    args.lang = getattr(args, "lang", None) or locale
    from .config import ConfigError

    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(say(Text("compagnon : configuration invalide : {exc}", "compagnon: invalid configuration: {exc}"),
                  exc=exc), file=sys.stderr)
        return EXIT_USAGE
    from .logs import setup_logging

    serving = args.command in ("serve", "demo", "tray")
    setup_logging(settings.log_dir, verbose=args.verbose, console=serving or args.verbose,
                  prompts=serving and settings.consent_policy == "prompt" and sys.stdin.isatty())
    commands: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "serve": _serve,
        "tray": _tray,
        "console": _console,
        "demo": _demo,
        "diagnose": _diagnose,
        "pairings": _pairings,
        "certs": _certs,
        "sign": _sign,
        "cosign": _sign,
        "countersign": _sign,
        "verify": _verify,
        "decrypt": _decrypt,
        "encrypt": _encrypt,
        "keygen": _keygen,
        "bids": _bids,
        "audit": _admin,
        "doctor": _admin,
        "update": _update,
    }
    return commands[args.command](args, settings)


# -- serve / demo --------------------------------------------------------------------------------


async def _run_until_signal(settings: Settings, on_started: Callable[[int], Any] | None = None,
                            extra_start: Callable[[], Any] | None = None) -> int:
    import asyncio

    from .service import AgentService, PortsUnavailable, make_consent

    if settings.consent_policy in ("console", "native"):
        from .desktop.runtime import run_headless

        return await run_headless(settings, on_started)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    service = AgentService(settings, make_consent(settings, interactive))
    try:
        port = await service.start()
    except PortsUnavailable as exc:
        print(f"compagnon : aucun port libre ({exc})", file=sys.stderr)
        return EXIT_FAILED
    from .runloop import serve_until_stopped

    try:
        await serve_until_stopped(settings, port, asyncio.Event(), on_started)
    finally:
        await service.stop()
    return EXIT_OK


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    return asyncio.run(_run_until_signal(settings))


def _tray(args: argparse.Namespace, settings: Settings) -> int:
    """The agent with its icon; consent in the local console unless the configuration says otherwise."""
    from dataclasses import replace

    from .desktop import tray

    if not settings.consent_policy_explicit:
        settings = replace(settings, consent_policy="console")
    return tray.main(settings)


def _console(args: argparse.Namespace, settings: Settings) -> int:
    """Ask the running desktop agent (``tray``, or ``serve`` with the console policy) to open its console."""
    from .desktop import instance

    answer = instance.send(settings.state_dir, "open", wait=2.0, section=args.section)
    if answer is None or not answer.get("ok"):
        print("compagnon : aucun agent avec console n'est lancé (compagnon tray).", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from dataclasses import replace

    from aiohttp import web

    from .demo_identity import demo_crl, demo_description, ensure_demo_identity

    from agent.demo_platform.app import CRL_PATH, DemoState, create_demo_app

    from .fsutil import private_folder

    async def run() -> int:
        runner: web.AppRunner | None = None
        demo_port = args.demo_port
        # The platform's files and database stay between runs (agent.demo_platform.database).
        state = DemoState(data_dir=private_folder(settings.state_dir / "demo" / "plateforme", own=True))
        for candidate in range(demo_port, demo_port + 10):
            app = create_demo_app(state)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", candidate).start()
            except OSError:
                await runner.cleanup()
                continue
            demo_port = candidate
            break
        else:
            print("compagnon : aucun port libre pour la démonstration", file=sys.stderr)
            return EXIT_FAILED
        origins = [f"http://127.0.0.1:{demo_port}", f"http://localhost:{demo_port}"]
        demo_settings = settings.with_origins(origins, preapproved=origins)
        # The demo identity: listed and trusted by this demo agent only (agent.demo_identity).
        # Its authority's CRL is published by the platform (agent.demo_platform.app.CRL_PATH).
        identity = await asyncio.to_thread(ensure_demo_identity, settings.state_dir / "demo",
                                           f"http://127.0.0.1:{demo_port}{CRL_PATH}")
        state.revocation_list = lambda: demo_crl(identity)
        demo_settings = replace(demo_settings, extra_p12_dirs=(*demo_settings.extra_p12_dirs, identity.folder),
                                trust_roots=(*demo_settings.trust_roots, identity.authority))
        print(demo_description(identity), flush=True)

        async def started(port: int) -> None:
            state.agent_ports = [port]
            print(f"Plateforme de démonstration : http://127.0.0.1:{demo_port}/", flush=True)

        try:
            return await _run_until_signal(demo_settings, started)
        finally:
            await runner.cleanup()

    return asyncio.run(run())


# -- certs ---------------------------------------------------------------------------------------


#: A certificate's purposes (RFC 5280 key usage, see agent/keystores/usage.py) as ``certs`` prints them.
USAGE_LABELS = {
    ("signing",): {"fr": "signature", "en": "signature"},
    ("decryption",): {"fr": "chiffrement", "en": "encryption"},
    ("signing", "decryption"): {"fr": "signature et chiffrement", "en": "signature and encryption"},
    (): {"fr": "ni signature ni chiffrement", "en": "neither signature nor encryption"},
}


def _certs(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from bridge_protocol.errors import ProtocolError
    from bridge_protocol.typed import to_json

    from .errors import ReportedError
    from .keystores.pkcs12_store import Pkcs12FileStore
    from .keystores.registry import KeyStoreRegistry

    settings = replace(settings, trust_roots=(*settings.trust_roots, *args.trust))
    picked = []
    for path in args.p12:
        store = Pkcs12FileStore(path)
        try:
            store.unlock(read_secret(say(PROMPTS["p12_password"], name=path.name), args.pin_stdin))
        except (ProtocolError, ReportedError) as exc:
            return _fail(exc, args.lang)
        picked.append(store)
    registry = KeyStoreRegistry(settings, extra_modules=args.pkcs11, p12=picked)
    infos = registry.certificate_infos(None if args.purpose == "all" else args.purpose, args.lang)
    if args.json:
        print(json.dumps(to_json(infos), ensure_ascii=False, indent=2))
        return EXIT_OK
    if not infos:
        print("Aucun certificat avec clé privée trouvé." if args.lang == "fr" else "No certificate with a private key found.")
        return EXIT_OK
    signing = [i for i in infos if "signing" in i.purposes]
    bicles = [i for i in infos if "signing" not in i.purposes and "decryption" in i.purposes]
    others = [i for i in infos if not i.purposes]
    sections = [(CERTS_SECTIONS["signing"], signing, _print_signing_certificate),
                (CERTS_SECTIONS["bicles"], bicles, _print_bicle),
                (CERTS_SECTIONS["others"], others, _print_signing_certificate)]
    first = True
    for title, items, show in sections:
        if not items:
            continue
        print(("" if first else "\n") + f"== {title.render(args.lang)} ({len(items)}) ==")
        first = False
        for info in items:
            show(info, args.lang)
    return EXIT_OK


#: The sections of ``certs``: signing certificates, and the bi-clés (encryption key pairs that
#: open sealed bids, RFC 5280 keyEncipherment without a signing usage) under their own label.
CERTS_SECTIONS = {
    "signing": Text("Certificats de signature", "Signing certificates"),
    "bicles": Text("Bi-clés de chiffrement (ouverture des plis)", "Encryption key pairs (bi-clés, to open bids)"),
    "others": Text("Autres certificats (ni signature ni chiffrement)", "Other certificates (neither signing nor encryption)"),
}


def _certificate_lines(info: Any, locale: str) -> None:
    """The lines every certificate of ``certs`` has: key, issuer, end of validity, store, usage."""
    end = human_date(info.not_after, locale)
    details = Text("    {key}, émis par {issuer}, valide jusqu'au {end}, {store}, SHA-256 {sha}…, id {id}",
                   "    {key}, issued by {issuer}, valid until {end}, {store}, SHA-256 {sha}…, id {id}")
    print(details.render(locale, key=info.key_type, issuer=info.issuer, end=end, store=info.source.label,
                         sha=info.sha256[:16], id=info.id))
    print(("    usage: " if locale == "en" else "    usage : ") + USAGE_LABELS[tuple(info.purposes)][locale])


def _print_signing_certificate(info: Any, locale: str) -> None:
    """A signing certificate: judged by the signing rules ("adapté pour les marchés publics")."""
    yes, no = ("adapté", "non adapté") if locale == "fr" else ("suitable", "not suitable")
    print(f"[{yes if info.suitable else no}] {info.subject}"
          + (f" — {info.organization}" if info.organization else "")
          + (f" (SIREN {info.siren})" if info.siren else ""))
    _certificate_lines(info, locale)
    for reason in info.reasons:
        print(f"    - {reason}")


def _print_bicle(info: Any, locale: str) -> None:
    """A bi-clé: judged only by what opening a pli needs, a certificate in its validity period
    (the signing rules, nonRepudiation or a qualified policy, are not its business)."""
    from datetime import UTC, datetime

    from .keystores.facts import REASONS

    now = datetime.now(UTC)
    not_before = datetime.fromisoformat(info.not_before.replace("Z", "+00:00"))
    not_after = datetime.fromisoformat(info.not_after.replace("Z", "+00:00"))
    reasons = []
    if now > not_after:
        reasons.append(REASONS["expired"].render(locale, date=human_date(info.not_after, locale)))
    elif now < not_before:
        reasons.append(REASONS["not_yet_valid"].render(locale, date=human_date(info.not_before, locale)))
    state = (Text("utilisable", "usable") if not reasons else Text("inutilisable", "not usable")).render(locale)
    print(f"[{state}] {info.subject}" + (f" — {info.organization}" if info.organization else ""))
    _certificate_lines(info, locale)
    for reason in reasons:
        print(f"    - {reason}")


# -- sign / cosign / countersign -----------------------------------------------------------------


def _check_inputs(files: list[Path], signature_format: str | None = None) -> None:
    """Refuse, before any password or PIN is asked, a file that is missing, unreadable, or that the
    chosen format cannot sign (PAdES signs PDF documents only, ISO 32000-1 section 7.5.2)."""
    from bridge_protocol.errors import ErrorCode, ProtocolError

    if not files:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, "Aucun fichier à traiter : indiquez au moins un fichier.")
    for path in files:
        try:
            with path.open("rb") as stream:
                head = stream.read(1024)
        except FileNotFoundError:
            raise ProtocolError(ErrorCode.FILE_NOT_FOUND, f"Fichier introuvable : {path}. Vérifiez son chemin.") from None
        except OSError as exc:
            raise ProtocolError(ErrorCode.FILE_UNREADABLE,
                                f"Fichier illisible : {path} ({exc.strerror or exc}).") from None
        if signature_format == "pades" and not head.startswith(b"%PDF-"):
            raise ProtocolError(ErrorCode.INVALID_PARAMS, f"{path.name} n'est pas un PDF : la signature PAdES ne "
                                "s'applique qu'aux documents PDF. Pour ce fichier, choisissez --format cades "
                                "(ou xades).")


def _expand_folders(paths: list[Path]) -> list[Path]:
    """Each folder given becomes its ``.xml`` files (not recursive, sorted by name): a folder of PES
    flows is signed in one job, with one consent and one PIN."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file()))
        else:
            files.append(path)
    return files


def _sign(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from bridge_protocol.errors import ProtocolError

    from .errors import ReportedError
    from .jobs.context import JobServices

    if args.tsa:
        settings = replace(settings, tsa_url=args.tsa)
    try:
        if args.command == "sign":
            _check_inputs(_expand_folders(args.files), args.format)
        registry, key, secret = _select_key(args, settings, "signing")
    except (ProtocolError, ReportedError) as exc:
        return _fail(exc)
    if args.command == "sign":
        files = [{"path": str(f), "format": args.format, "attached": args.attached, "enveloped": args.enveloped,
                  "pes": args.pes, **({"stamp": {"page": args.stamp_page}} if args.stamp_page else {})}
                 for f in _expand_folders(args.files)]
        mode, signer = "sign", None
    else:
        entry: dict[str, Any] = {"path": str(args.signature), "format": "cades"}
        if getattr(args, "content", None):
            entry["content_path"] = str(args.content)
        files, mode, signer = [entry], args.command, getattr(args, "signer", None)
    params: dict[str, Any] = {"files": files, "certificate": key.id, "level": args.level, "mode": mode}
    if signer:
        params["signer"] = signer
    if getattr(args, "reason", None):
        params["reason"] = args.reason
    if getattr(args, "role", None):
        params["claimed_role"] = args.role
    place = {name: value for name, value in (("City", getattr(args, "city", None)),
                                             ("PostalCode", getattr(args, "postal_code", None)),
                                             ("CountryName", getattr(args, "country", None))) if value}
    if place:
        params["production_place"] = place
    if args.out_dir:
        params["out_dir"] = str(args.out_dir)

    services = JobServices(settings=settings, consent=_CliConsent(args.pin_stdin, secret),  # type: ignore[arg-type]
                           keystores=registry, local=True)
    snapshot = _run_job(services, "sign", params, show_progress=True)
    return _print_outputs(snapshot, "signed")


# -- decrypt / encrypt ---------------------------------------------------------------------------


def _decrypt(args: argparse.Namespace, settings: Settings) -> int:
    from bridge_protocol.errors import ProtocolError

    from .errors import ReportedError
    from .jobs.context import JobServices

    try:
        registry, key, secret = _select_key(args, settings)
    except (ProtocolError, ReportedError) as exc:
        return _fail(exc)
    params: dict[str, Any] = {"files": [{"path": str(f)} for f in args.files], "certificate": key.id,
                              "extract": args.extract}
    if args.out_dir:
        params["out_dir"] = str(args.out_dir)
    services = JobServices(settings=settings, consent=_CliConsent(args.pin_stdin, secret),  # type: ignore[arg-type]
                           keystores=registry, local=True)
    snapshot = _run_job(services, "decrypt", params, show_progress=True)
    return _print_outputs(snapshot, "decrypted")


def _encrypt(args: argparse.Namespace, settings: Settings) -> int:
    from .consent import PolicyConsent
    from .jobs.context import JobServices

    from cryptography import x509

    from bridge_protocol.errors import ProtocolError

    from .errors import ReportedError

    recipients = []
    for path in args.to:
        try:
            text = path.read_text(encoding="ascii")
            x509.load_pem_x509_certificates(text.encode())
        except FileNotFoundError:
            print(say(Text("compagnon : certificat introuvable : {path}. Vérifiez son chemin.",
                           "compagnon: certificate not found: {path}. Check its path."), path=path), file=sys.stderr)
            return EXIT_USAGE
        except (OSError, UnicodeDecodeError, ValueError):
            print(say(Text("compagnon : {name} n'est pas un certificat au format PEM (« -----BEGIN CERTIFICATE----- ») : "
                           "--to attend le certificat de chiffrement de l'acheteur.",
                           "compagnon: {name} is not a PEM certificate (\"-----BEGIN CERTIFICATE-----\"): --to expects "
                           "the buyer's encryption certificate."), name=path.name), file=sys.stderr)
            return EXIT_USAGE
        recipients.append(text)
    try:
        _check_inputs(list(args.files))
    except (ProtocolError, ReportedError) as exc:
        return _fail(exc)
    params: dict[str, Any] = {"files": [{"path": str(f)} for f in args.files], "recipients": recipients,
                              "algorithm": args.algorithm}
    if args.out_dir:
        params["out_dir"] = str(args.out_dir)
    origin = "cli:"
    if args.deposit:
        from yarl import URL

        url = URL(args.deposit)
        if url.scheme not in ("http", "https") or not url.host:
            print(say(Text("compagnon : --deposit attend une adresse http(s) de la plateforme, pas « {url} ».",
                           "compagnon: --deposit expects an http(s) address of the platform, not \"{url}\"."),
                      url=args.deposit), file=sys.stderr)
            return EXIT_USAGE
        origin = str(url.origin())  # the job's origin: the upload stays there (promise 6)
        token = sys.stdin.readline().strip() if args.token_stdin else None
        params.update(upload_url=str(url), token=token or None)
    snapshot = _run_job(JobServices(settings=settings, consent=PolicyConsent(False), local=True), "encrypt", params,
                        origin=origin)
    status = _print_outputs(snapshot, "encrypted")
    if args.deposit and snapshot["state"] == "succeeded":
        status = max(status, _print_receipt(snapshot["result"], getattr(args, "lang", "fr")))
    return status


def _print_receipt(result: dict[str, Any], locale: str) -> int:
    """The platform's deposit receipt kept with the job; exit 1 when a file sent is not on it."""
    refused = [f for f in result["files"] if f["status"] == "encrypted" and not f["uploaded"]]
    for item in refused:
        error = item["error"] or {"code": "PLATFORM_UNREACHABLE", "message": ""}
        print(f"compagnon{_sep()}{item['source']}{_sep()}{error['code']}{_sep()}{error['message']}", file=sys.stderr)
    receipt = result.get("receipt")
    if receipt is None:
        print(Text("compagnon : la plateforme n'a pas remis d'accusé de réception.",
                   "compagnon: the platform gave no receipt.").render(locale), file=sys.stderr)
        return EXIT_FAILED
    print(Text("Accusé de réception {id} — {pli}, reçu le {time} :",
               "Receipt {id} — {pli}, received on {time}:").render(
        locale, id=receipt["id"], pli=receipt.get("label") or receipt["pli"],
        time=human_datetime(receipt["received_at"], locale)))
    for item in receipt["files"]:
        print(f"  {item['name']}  {item['size']} {'bytes' if locale == 'en' else 'octets'}  SHA-256 {item['sha256']}")
    missing = [f["source"] for f in result["files"] if f["uploaded"] and not f["receipted"]]
    for name in missing:
        print(Text("compagnon : {name} : absent de l'accusé de réception (taille ou empreinte différente).",
                   "compagnon: {name}: missing from the receipt (size or fingerprint differs).").render(locale, name=name),
              file=sys.stderr)
    return EXIT_FAILED if missing or refused else EXIT_OK


def _print_outputs(snapshot: dict[str, Any], done_status: str) -> int:
    """Print each output path (one a line) and each error; exit 1 when anything failed."""
    if snapshot["state"] != "succeeded":
        error = snapshot["error"] or {"code": snapshot["state"].upper(), "message": snapshot["message"]}
        print(f"compagnon{_sep()}{error['code']}{_sep()}{error['message']}", file=sys.stderr)
        return EXIT_FAILED
    failed = False
    for item in snapshot["result"]["files"]:
        if item["status"] == done_status:
            print(Path(item["folder"]) / item["output"])
            if item.get("signature"):
                print(f"  {signature_line(item['signature'])}")
            checks = item.get("extracted_signatures") or []
            for index, extracted in enumerate(item.get("extracted", [])):
                print(f"  {Path(item['folder']) / extracted}")
                if index < len(checks):
                    print(f"    {signature_line(checks[index])}")
        else:
            failed = True
            print(f"compagnon{_sep()}{item['source']}{_sep()}{item['error']['code']}{_sep()}{item['error']['message']}",
                  file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


# -- keygen --------------------------------------------------------------------------------------


class _KeygenConsent:
    """The user ran the command: that is the consent. For a new PKCS#12 file the PIN field is its
    password, typed twice at a terminal; otherwise it is the token's PIN or the source file's password."""

    def __init__(self, pin_stdin: bool, new_password: bool) -> None:
        self.pin_stdin = pin_stdin
        self.new_password = new_password

    @property
    def asks_at_terminal(self) -> bool:
        """Whether a question waits for the user at the terminal (not with ``--pin-stdin``)."""
        return not self.pin_stdin

    async def ask(self, request):  # type: ignore[no-untyped-def]
        from bridge_protocol.errors import ErrorCode, ProtocolError

        from .consent import ConsentDecision

        if request.pin_retry:
            print(f"compagnon{_sep()}{request.notice}", file=sys.stderr, flush=True)
        else:
            print(request.summary, file=sys.stderr, flush=True)
        if not request.needs_pin:
            return ConsentDecision(approved=True)
        if not (self.new_password or request.new_password):
            pin = read_secret(say(PROMPTS["pin_or_password"]), self.pin_stdin)
            return ConsentDecision(approved=not request.pin_retry or bool(pin and pin.reveal()), pin=pin)
        if request.password_rule:  # the rule, before anything is typed
            print(say(PROMPTS["password_rule"], rule=request.password_rule), file=sys.stderr, flush=True)
        if self.pin_stdin or not sys.stdin.isatty():  # a script: one line, checked by the job
            pin = read_secret(say(PROMPTS["new_password"]), self.pin_stdin)
            return ConsentDecision(approved=not request.pin_retry or pin is not None, pin=pin)
        for _ in range(5):  # typed twice at a terminal, asked again while they differ or are too short
            pin = read_secret(say(PROMPTS["new_password_tty"]), False)
            if pin is None or not pin.reveal():
                return ConsentDecision(approved=False)
            if len(pin.reveal()) < request.password_min_length:
                print(say(PROMPTS["too_short"], count=request.password_min_length),
                      file=sys.stderr, flush=True)
                continue
            again = read_secret(say(PROMPTS["confirm"]), False)
            if again is not None and again.reveal() == pin.reveal():
                return ConsentDecision(approved=True, pin=pin)
            print(say(PROMPTS["differ"]), file=sys.stderr, flush=True)
        raise ProtocolError(ErrorCode.PIN_REQUIRED, "Les deux mots de passe diffèrent.")


def _keygen(args: argparse.Namespace, settings: Settings) -> int:
    """``compagnon keygen``: the ``keygen`` job in this process; prints where the key is."""
    from .fsutil import atomic_write_bytes
    from .jobs.context import JobServices
    from .keystores.registry import KeyStoreRegistry

    if args.token and not args.pkcs11:
        print(say(Text("compagnon : --token va avec --pkcs11 MODULE.", "compagnon: --token goes with --pkcs11 MODULE.")),
              file=sys.stderr)
        return EXIT_USAGE
    params: dict[str, Any] = {"name": args.name, "secours": args.secours, "bits": args.bits}
    if args.org:
        params["organization"] = args.org
    if args.from_cert:
        params["from_certificate"] = args.from_cert
    if args.pkcs11:
        params |= {"target": "pkcs11", **({"token_label": args.token} if args.token else {})}
    if args.windows:
        params["target"] = "windows"
    if args.p12:
        params["out"] = str(args.p12)
    modules = [args.pkcs11] if args.pkcs11 else []
    # --from-cert finds the certificate as « compagnon certs » lists it; otherwise only the named store.
    registry = KeyStoreRegistry(settings, extra_modules=modules, discover=bool(args.from_cert))
    consent = _KeygenConsent(args.pin_stdin, new_password=not args.pkcs11 and not args.from_cert and not args.windows)
    services = JobServices(settings=settings, consent=consent, keystores=registry, local=True)  # type: ignore[arg-type]
    snapshot = _run_job(services, "keygen", params, show_progress=True)
    if snapshot["state"] != "succeeded":
        error = snapshot["error"] or {"code": snapshot["state"].upper(), "message": snapshot["message"]}
        print(f"compagnon{_sep()}{error['code']}{_sep()}{error['message']}", file=sys.stderr)
        return EXIT_FAILED
    result = snapshot["result"]
    if args.cert_out:
        atomic_write_bytes(args.cert_out, result["certificate"].encode("ascii"), 0o644)
    print(result["location"])
    made = (Text("clé de secours, RSA {bits} bits, valide jusqu'au {end}, SHA-256 {sha}, id {id}",
                  "backup key, RSA {bits} bits, valid until {end}, SHA-256 {sha}, id {id}") if result["secours"] else
            Text("clé personnelle, RSA {bits} bits, valide jusqu'au {end}, SHA-256 {sha}, id {id}",
                 "personal key, RSA {bits} bits, valid until {end}, SHA-256 {sha}, id {id}"))
    print(say(made, bits=result["bits"], end=human_date(result["not_after"], args.lang), sha=result["sha256"],
              id=result["id"]), file=sys.stderr)
    return EXIT_OK


# -- verify --------------------------------------------------------------------------------------

EXIT_INDETERMINATE = 2


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every signature is TOTAL_PASSED, 1 when any is TOTAL_FAILED, 2 otherwise (an
    indeterminate signature, an unreadable file, no signature at all). Several files or a folder:
    one report for all of them, and the worst exit code."""
    from dataclasses import replace

    from . import __version__
    from .consent import PolicyConsent
    from .fsutil import atomic_write_bytes
    from .jobs.context import JobServices
    from .keystores.registry import KeyStoreRegistry

    batch = len(args.files) > 1 or args.files[0].is_dir()
    if batch and (args.content or args.extract):
        print(say(Text("compagnon : --content et --extract vont avec un seul FICHIER (les signatures détachées d'un "
                       "ensemble sont associées à leur fichier par leur nom).",
                       "compagnon: --content and --extract go with one FILE only (the detached signatures of a set "
                       "are matched with their file by their name).")), file=sys.stderr)
        return EXIT_USAGE
    settings = replace(settings, trust_roots=(*settings.trust_roots, *args.trust))
    params: dict[str, Any]
    if batch:
        from .validation.batch import collect

        params = {"files": [{"path": str(item.path), "name": item.label} for item in collect(args.files)]}
        if not params["files"]:
            print(say(Text("compagnon : aucun fichier à vérifier.", "compagnon: no file to verify.")), file=sys.stderr)
            return EXIT_USAGE
    else:
        params = {"path": str(args.files[0])}
        if args.content:
            params["content_path"] = str(args.content)

    services = JobServices(settings=settings, consent=PolicyConsent(False),
                           keystores=KeyStoreRegistry(settings, discover=False), local=True)
    snapshot = _run_job(services, "verify", params, args.lang)
    if snapshot["state"] != "succeeded":
        error = snapshot["error"] or {"code": snapshot["state"].upper(), "message": snapshot["message"]}
        print(f"compagnon{_sep()}{error['code']}{_sep()}{error['message']}", file=sys.stderr)
        return EXIT_INDETERMINATE
    result = snapshot["result"]
    report = result["report"]
    if args.report:
        from .validation.report_html import render_batch_report, render_report

        render = render_batch_report if batch else render_report
        atomic_write_bytes(args.report, render(report, args.lang, __version__).encode("utf-8"), 0o644)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif batch:
        _print_batch(report, args.lang)
    else:
        _print_verification(report, locale=args.lang)
    if args.extract and not _extract_content(args.files[0], args.extract, args.lang):
        return EXIT_FAILED
    return {"TOTAL_PASSED": EXIT_OK, "TOTAL_FAILED": EXIT_FAILED}.get(result["indication"], EXIT_INDETERMINATE)


def _extract_content(signature: Path, out: Path, lang: str) -> bool:
    """``verify --extract OUT``: the document an attached CAdES (``.p7m``) holds, written whole or not at all."""
    from .fsutil import atomic_output
    from .i18n import Text
    from .validation.cades import extract_content
    from .validation.cms_stream import CmsFormatError

    try:
        with atomic_output(out, 0o644) as stream:
            size = extract_content(signature, stream)
    except CmsFormatError as exc:
        print(Text("compagnon : extraction impossible : {e}", "compagnon: cannot extract: {e}").render(lang, e=exc),
              file=sys.stderr)
        return False
    except OSError as exc:
        print(Text("compagnon : extraction impossible vers {p} : {e}", "compagnon: cannot extract to {p}: {e}")
              .render(lang, p=out, e=exc.strerror or exc), file=sys.stderr)
        return False
    print(Text("Document extrait : {p} ({n} octets)", "Document extracted: {p} ({n} bytes)").render(lang, p=out, n=size),
          file=sys.stderr)
    return True


def _print_batch(report: dict[str, Any], locale: str) -> None:
    """One line per file (its verdict, or why it has none), its signatures under it, the counts last."""
    from .validation.report_html import BATCH_TEXTS, count_phrase

    en = locale == "en"
    for entry in report["files"]:
        if entry["status"] == "error":
            verdict = f"{entry['error']['code']} : {entry['error']['message']}"
        elif entry["indication"]:
            verdict = entry["indication"]
        elif entry["signed_by"]:
            verdict = ("signed by " if en else "signé par ") + ", ".join(entry["signed_by"])
        else:
            verdict = "no signature" if en else "sans signature"
        content = f" (content: {entry['content']})" if en else f" (contenu : {entry['content']})"
        print(f"{entry['file']}{': ' if en else ' : '}{verdict}{content if entry['content'] else ''}")
        if entry["signatures"]:
            _print_verification({"signatures": entry["signatures"]}, "    ", locale)
    summary = report["summary"]
    print(", ".join(count_phrase(int(summary[key]), *BATCH_TEXTS[key], locale) for key in BATCH_TEXTS))


#: What a check that is not plainly passed is called in the text report (as in the HTML report).
CHECK_STATUS_WORDS = {
    "fr": {"failed": "non conforme", "warning": "à vérifier", "not_checked": "non vérifié"},
    "en": {"failed": "failed", "warning": "to check", "not_checked": "not checked"},
}


_PROPERTY_LABELS = {
    "location": ("emplacement", "location"), "claimed_role": ("rôle", "role"),
    "production_place": ("lieu", "place"), "signing_time_declared": ("date déclarée", "declared time"),
    "signature_policy": ("politique", "policy"), "signature_policy_description": ("description", "description"),
    "signature_policy_hash": ("empreinte de la politique", "policy hash"), "signature_policy_uri": ("SPURI", "SPURI"),
}


def _check_name(check: dict[str, Any], locale: str) -> str:
    """A check as the reports name it ("Chaîne de certification", not ``chain``)."""
    from .validation.report_html import CHECK_NAMES

    name = str(check.get("name"))
    return CHECK_NAMES[name].render(locale) if name in CHECK_NAMES else name


def _print_verification(report: dict[str, Any], indent: str = "", locale: str = "fr") -> None:
    words = CHECK_STATUS_WORDS["en" if locale == "en" else "fr"]
    sep = ": " if locale == "en" else " : "  # a space before ":" in French only
    signatures = report.get("signatures") or report.get("countersignatures") or []
    if "file" in report:
        print(f"{report.get('file')}{sep}{len(signatures)} signature(s)")
        container = report.get("container")
        if container:
            count = len(container.get("files") or [])
            print(f"{indent}  {container.get('type')}{sep}"
                  + (f"{count} file(s)" if locale == "en" else f"{count} fichier(s)"))
            for check in container.get("checks", []):
                if check.get("status") in words:
                    print(f"{indent}    {words[check['status']]} {_check_name(check, locale)}{sep}{check.get('message')}")
    for signature in signatures:
        signer = signature.get("signer") or {}
        sub = f" / {signature['sub_indication']}" if signature.get("sub_indication") else ""
        print(f"{indent}- [{signature.get('indication')}{sub}] {signer.get('name')} "
              f"({signature.get('format')} {signature.get('level') or ''}, {signature.get('signing_time') or '—'})")
        for key, value in (signature.get("properties") or {}).items():
            print(f"{indent}    {_PROPERTY_LABELS.get(key, (key, key))[1 if locale == 'en' else 0]}{sep}{value}")
        if signature.get("covers"):
            label = "covers" if locale == "en" else "couvre"
            print(f"{indent}    {label}{sep}{', '.join(signature['covers'])}")
        for check in signature.get("checks", []):
            if check.get("status") in words:
                print(f"{indent}    {words[check['status']]} {_check_name(check, locale)}{sep}{check.get('message')}")
        conformance = signature.get("conformance")
        if conformance:
            title = "conformance" if locale == "en" else "conformité"
            print(f"{indent}    {title} {conformance['profile']}{sep}{conformance['result']}")
            for rule in conformance["rules"]:
                print(f"{indent}      {rule['result']:<3} {rule['name']}{sep}{rule['message']}")
        if signature.get("countersignatures"):
            _print_verification({"countersignatures": signature["countersignatures"]}, indent + "    ", locale)
    for inner in report.get("contents") or []:
        label = "enclosed document" if locale == "en" else "document contenu"
        print(f"{indent}  {inner.get('file')} ({label}) : {len(inner.get('signatures') or [])} signature(s)")
        _print_verification({"signatures": inner.get("signatures") or [], "contents": inner.get("contents") or []},
                            indent + "    ", locale)


# -- pairings -------------------------------------------------------------------------------------


def _pairings(args: argparse.Namespace, settings: Settings) -> int:
    from .audit import AuditLog
    from .config import ConfigError, normalize_origin
    from .consent import PolicyConsent
    from .pairing import Pairings

    pairings = Pairings(settings.state_dir / "pairings.json", settings.preapproved_origins, PolicyConsent(False),
                        AuditLog.in_state_dir(settings.state_dir))
    if args.action == "revoke":
        if not args.origin:
            print(say(Text("compagnon : indiquez le site à révoquer.", "compagnon: name the site to revoke.")), file=sys.stderr)
            return EXIT_USAGE
        try:
            origin = normalize_origin(args.origin)
        except ConfigError as exc:
            print(f"compagnon{_sep()}{exc}", file=sys.stderr)
            return EXIT_USAGE
        if origin in settings.preapproved_origins:
            print(say(Text("compagnon : {origin} est pré-approuvé par la configuration ([pairing] preapproved).",
                           "compagnon: {origin} is pre-approved by the configuration ([pairing] preapproved)."),
                      origin=origin), file=sys.stderr)
            return EXIT_FAILED
        if not pairings.revoke(origin):
            print(say(Text("compagnon : {origin} n'est pas un site autorisé.", "compagnon: {origin} is not an allowed site."),
                      origin=origin), file=sys.stderr)
            return EXIT_FAILED
        print(say(Text("Autorisation retirée : {origin}", "Authorisation withdrawn: {origin}"), origin=origin))
        return EXIT_OK
    entries = pairings.list()
    if not entries:
        print(say(Text("Aucun site autorisé.", "No allowed site.")))
    for entry in entries:
        how = (say(Text("pré-approuvé (configuration)", "pre-approved (configuration)")) if entry["preapproved"] else
               say(Text("autorisé le {when}", "allowed on {when}"), when=human_datetime(entry["approved_at"], args.lang)))
        print(f"{entry['origin']}  {how}")
    return EXIT_OK
