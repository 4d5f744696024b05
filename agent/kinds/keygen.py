"""``keygen``: create an encryption key pair ("Création d'un bi-clé") for sealed bids.

Steps as the user sees them: the consent with the PIN or the new file's password (in the agent's
own UI, promise 4), the generation, the registration of the *public* certificate with the
platform that asked for it (its own origin only, promise 6), done. The private key is generated
non-exportable on a token or in the user's Windows certificate store, or in a PKCS#12 file protected by AES-256 and PBKDF2 with mode 0600
(promise 10), or is the key of a certificate the user already holds ("sur la base d'un certificat
existant"). It never leaves its store; the result and the logs hold nothing secret.

A ``register_url`` outside the page's origin is refused before anything else happens: no consent
is asked and no key is generated for a registration that could never be sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.kinds import KeygenParams, KeygenResult
from bridge_protocol.messages import JobError
from bridge_protocol.platform import KeyRegistration
from bridge_protocol.typed import to_json

from ..consent import ConsentRequest, Secret
from ..errors import ReportedError
from ..i18n import Text
from ..jobs.context import JobContext
from ..keystores import keygen as engine
from ..keystores.base import KeyStore, StoredKey, cert_label, name_label, stored_key_id
from ..keystores.pkcs12_store import Pkcs12FileStore
from . import JobKind, StepSpec
from .pin import ask_new_password, open_with_the_pin

log = logging.getLogger(__name__)

T = Text
STEPS = (
    StepSpec("consent", T("Autorisation et code PIN / mot de passe", "Authorisation and PIN / password"), 1),
    StepSpec("generate", T("Génération du bi-clé", "Generating the key pair"), 4),
    StepSpec("register", T("Enregistrement auprès de la plateforme", "Registering with the platform"), 1),
    StepSpec("done", T("Terminé", "Done"), 0.1),
)


# -- protocol types (to move to bridge_protocol/kinds.py) -----------------------------------------


@dataclass
class _Plan:
    """Everything the consent shows and the generation needs."""

    mode: Literal["p12", "pkcs11", "windows", "existing"]
    name: str
    organization: str | None
    secours: bool
    bits: int
    #: The target file (p12, or existing key from a PKCS#12 file).
    path: Path | None = None
    #: The token, or the existing key's store.
    store: KeyStore | None = None
    key: StoredKey | None = None

    @property
    def store_kind(self) -> Literal["pkcs11", "pkcs12", "windows"]:
        if self.mode == "windows":
            return "windows"
        return "pkcs11" if self.store is not None and self.store.kind == "pkcs11" else "pkcs12"

    def location(self, local: bool, locale: str = "fr") -> str:
        if self.mode == "windows":
            return WINDOWS_STORE_LOCATION.render(locale, name=engine.token_label_for(self.name, self.secours))
        if self.store_kind == "pkcs11":
            return str(getattr(self.store, "token_label", self.store.label if self.store else ""))
        assert self.path is not None
        return str(self.path) if local else self.path.name


PASSWORD_RULE = T("{min} caractères au moins, à taper deux fois ; il protégera le fichier du bi-clé",
                  "at least {min} characters, typed twice; it will protect the key pair's file")
SUMMARY_P12 = T(
    "Créer un bi-clé de chiffrement RSA {bits} bits au nom de « {name} »{secours}, dans le fichier « {file} ». "
    "Le code demandé est le mot de passe qui protégera ce fichier ({min} caractères au moins).",
    "Create an RSA {bits}-bit encryption key pair for \"{name}\"{secours} in the file \"{file}\". "
    "The code asked is the password that will protect this file (at least {min} characters).",
)
SUMMARY_TOKEN = T(
    "Créer un bi-clé de chiffrement RSA {bits} bits au nom de « {name} »{secours} sur le support « {token} » "
    "(clé privée non exportable).",
    "Create an RSA {bits}-bit encryption key pair for \"{name}\"{secours} on the token \"{token}\" "
    "(non-exportable private key).",
)
SUMMARY_WINDOWS = T(
    "Créer un bi-clé de chiffrement RSA {bits} bits au nom de « {name} »{secours} dans le magasin de certificats "
    "Windows de votre session (clé privée non exportable, certificat dans « Personnel »).",
    "Create an RSA {bits}-bit encryption key pair for \"{name}\"{secours} in your session's Windows certificate "
    "store (non-exportable private key, certificate in \"Personal\").",
)
WINDOWS_STORE_LOCATION = T("Magasin Windows : {name}", "Windows store: {name}")
SUMMARY_EXISTING = T(
    "Créer un certificat de chiffrement au nom de « {name} »{secours} pour la clé du certificat de {who} ({where}).",
    "Create an encryption certificate for \"{name}\"{secours} with the key of {who}'s certificate ({where}).",
)
NEW_FILE_SAME_PASSWORD = T(
    " Le certificat et la clé iront dans le nouveau fichier « {file} », protégé par le même mot de passe.",
    " The certificate and the key will go to the new file \"{file}\", protected by the same password.",
)
SECOURS = T(" (clé de secours : chaque pli lui sera aussi chiffré)",
            " (backup key: every bid will also be encrypted to it)")
NEW_CERTIFICATE = T("Nouveau certificat : {name}{secours} — RSA {bits} bits",
                    "New certificate: {name}{secours} — RSA {bits} bits")
EXISTING_CERTIFICATE = T("{who} (émis par {issuer}) — SHA-256 {sha}", "{who} (issued by {issuer}) — SHA-256 {sha}")
DONE = T("Bi-clé créé : {location}.", "Key pair created: {location}.")
DONE_REGISTERED = T("Bi-clé créé : {location} ; certificat enregistré auprès de la plateforme.",
                    "Key pair created: {location}; certificate registered with the platform.")


class Keygen(JobKind):
    name = "keygen"
    params_type = KeygenParams
    steps = STEPS
    needs_pairing = True

    async def run(self, ctx: JobContext, params: KeygenParams) -> KeygenResult:
        name = engine.clean_name(params.name)
        organization = engine.clean_name(params.organization, "organisation") if params.organization else None
        # Promise 6, checked first: a registration that could never be sent generates nothing.
        register = str(ctx.platform.resolve(params.register_url)) if params.register_url else None
        if params.out is not None and not ctx.services.local:
            raise ProtocolError(ErrorCode.INVALID_PARAMS,
                                reason=T("chemin local refusé : le fichier va dans le dossier des clés",
                                         "local path refused: the file goes to the keys folder"))
        plan = await asyncio.to_thread(self._plan, ctx, params, name, organization)

        with ctx.step("consent"):
            request = self._consent(ctx, plan)
            if plan.mode == "p12":  # a new password: typed twice, its rule told first, asked again if broken
                decision = await ask_new_password(ctx, request, engine.check_new_password)
            else:
                decision = await ctx.services.consent.ask(request)
            if not decision.approved:
                raise ProtocolError(ErrorCode.USER_CANCELLED)
            pin, session = decision.pin, None
            if plan.mode in ("pkcs11", "existing") and plan.store is not None:  # a wrong PIN: asked again
                session, pin = await open_with_the_pin(ctx, plan.store, request, decision)

        with ctx.step("generate"):
            ctx.set_message(ctx.t(T("Génération du bi-clé…", "Generating the key pair…")))
            try:
                certificate = await self._in_thread(ctx, self._generate, ctx, plan, pin, session)
            finally:
                if session is not None:
                    await asyncio.to_thread(session.close)

        pem = engine.certificate_pem(certificate)
        registered, register_error = False, None
        if register is None:
            ctx.end_step("register", "skipped")
        else:
            with ctx.step("register"):
                register_error = await self._register(ctx, register, params.token, plan, certificate, pem)
                registered = register_error is None
                if not registered:
                    ctx.end_step("register", "failed")

        with ctx.step("done"):
            location = plan.location(ctx.services.local, ctx.locale)
            ctx.set_message(ctx.t(DONE_REGISTERED if registered else DONE, location=location))
        if plan.mode == "windows":
            from ..keystores import windows_store

            identity = windows_store.STORE_IDENTITY
        else:
            holder = plan.store if plan.store_kind == "pkcs11" else Pkcs12FileStore(plan.path)  # type: ignore[arg-type]
            identity = holder.identity  # type: ignore[union-attr]
        return KeygenResult(
            certificate=pem,
            sha256=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
            id=stored_key_id(identity, certificate),
            name=name,
            secours=engine.is_secours(certificate),
            bits=certificate.public_key().key_size,  # type: ignore[union-attr]
            store=plan.store_kind,
            location=location,
            not_after=certificate.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
            registered=registered,
            register_error=register_error,
        )

    # -- plan and consent ----------------------------------------------------------------------

    @staticmethod
    def _plan(ctx: JobContext, params: KeygenParams, name: str, organization: str | None) -> _Plan:
        """Find the target (blocking: token listing)."""
        keystores = ctx.services.keystores
        settings = ctx.services.settings
        local = ctx.services.local
        if params.from_certificate is not None:
            if keystores is None:
                raise ProtocolError(ErrorCode.NO_SUCH_CERTIFICATE)
            store, key = keystores.find(params.from_certificate)
            public_key = key.certificate.public_key()
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise ProtocolError(ErrorCode.KEY_NOT_USABLE, T("Un bi-clé de chiffrement doit être une clé RSA.",
                                                                   "An encryption key pair must be an RSA key."))
            if store.kind not in ("pkcs11", "pkcs12"):
                raise ProtocolError(ErrorCode.KEY_NOT_USABLE,
                                    T("Ce magasin de certificats ne permet pas cette opération.",
                                      "This certificate store does not allow this operation."))
            plan = _Plan("existing", name, organization, params.secours, public_key.key_size, store=store, key=key)
            if store.kind == "pkcs12":
                plan.path = _p12_target(params, settings.p12_dir, name, params.secours, local)
            return plan
        if params.target == "windows":
            if sys.platform != "win32":
                raise ProtocolError(ErrorCode.INVALID_PARAMS,
                                    ctx.t(T("Le magasin de certificats Windows n'existe que sous Windows.",
                                            "The Windows certificate store exists on Windows only.")))
            return _Plan("windows", name, organization, params.secours, params.bits)
        if params.target == "pkcs11":
            return _Plan("pkcs11", name, organization, params.secours, params.bits,
                         store=_find_token(keystores, params.token_label, params.token_certificate))
        return _Plan("p12", name, organization, params.secours, params.bits,
                     path=_p12_target(params, settings.p12_dir, name, params.secours, local))

    @staticmethod
    def _consent(ctx: JobContext, plan: _Plan) -> ConsentRequest:
        secours = ctx.t(SECOURS) if plan.secours else ""
        if plan.mode == "existing":
            assert plan.key is not None and plan.store is not None
            cert = plan.key.certificate
            who = cert_label(cert)
            where = plan.store.label
            summary = ctx.t(SUMMARY_EXISTING, name=plan.name, secours=secours, who=who, where=where)
            if plan.path is not None:
                summary += ctx.t(NEW_FILE_SAME_PASSWORD, file=plan.path.name)
            shown = ctx.t(EXISTING_CERTIFICATE, who=who, issuer=name_label(cert.issuer), sha=plan.key.sha256)
            needs_pin = plan.store.needs_pin
        else:
            shown = ctx.t(NEW_CERTIFICATE, name=plan.name, secours=secours, bits=plan.bits)
            if plan.mode == "windows":
                summary = ctx.t(SUMMARY_WINDOWS, bits=plan.bits, name=plan.name, secours=secours)
                needs_pin = False
            elif plan.mode == "pkcs11":
                assert plan.store is not None
                summary = ctx.t(SUMMARY_TOKEN, bits=plan.bits, name=plan.name, secours=secours, token=plan.store.label)
                needs_pin = plan.store.needs_pin
            else:
                assert plan.path is not None
                summary = ctx.t(SUMMARY_P12, bits=plan.bits, name=plan.name, secours=secours, file=plan.path.name,
                                min=engine.MIN_PASSWORD_LENGTH)
                needs_pin = True
        if plan.mode == "p12":
            return ConsentRequest(origin=ctx.origin, action="keygen", summary=summary, certificate=shown,
                                  needs_pin=True, new_password=True,
                                  password_rule=ctx.t(PASSWORD_RULE, min=engine.MIN_PASSWORD_LENGTH),
                                  password_min_length=engine.MIN_PASSWORD_LENGTH)
        return ConsentRequest(origin=ctx.origin, action="keygen", summary=summary, certificate=shown,
                              needs_pin=needs_pin)

    # -- generation -----------------------------------------------------------------------------

    @staticmethod
    async def _in_thread(ctx: JobContext, function: Callable[..., x509.Certificate], *args: Any) -> x509.Certificate:
        """Run ``function`` in a worker thread. Cancelling waits for it: the engines check the
        job's flag after the slow part and remove what they made, so nothing half-made stays."""
        work = asyncio.get_running_loop().run_in_executor(None, function, *args)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            ctx.request_cancel()
            await asyncio.wait([work], timeout=60)
            raise

    @staticmethod
    def _generate(ctx: JobContext, plan: _Plan, pin: Secret | None, session: Any = None) -> x509.Certificate:
        """The key pair and its certificate; ``session`` is the store already opened with ``pin``
        (the caller closes it)."""
        check = ctx.check_cancelled
        if plan.mode == "p12":
            assert plan.path is not None
            path = engine.generate_p12(plan.path.parent, plan.name, plan.bits, plan.secours, pin,
                                       organization=plan.organization, path=plan.path, check_cancelled=check)
            from ..trust import load_pem_certificates

            return load_pem_certificates(engine.sidecar_path(path))[0]
        if plan.mode == "windows":
            from ..keystores.windows_keygen import generate_in_store  # ctypes over advapi32: Windows only

            return generate_in_store(plan.name, plan.bits, plan.secours, organization=plan.organization,
                                     check_cancelled=check)
        store: Any = plan.store  # a Pkcs11TokenStore or a Pkcs12FileStore, as planned
        owned = session is None
        if owned:
            session = store.open(pin)
        try:
            if plan.mode == "pkcs11":
                return engine.generate_on_token(store, session, plan.name, plan.bits, plan.secours,
                                                organization=plan.organization, check_cancelled=check)
            assert plan.key is not None
            certificate = engine.certificate_for_existing_key(session, plan.key, plan.name, plan.secours,
                                                              organization=plan.organization)
            check()
            if store.kind == "pkcs11":
                engine.store_certificate_on_token(store, session, certificate, plan.key.handle,
                                                  engine.token_label_for(plan.name, plan.secours))
            else:
                assert plan.path is not None
                engine.rebind_p12(store, pin, certificate, plan.path)
            log.info("encryption certificate made for an existing key (%s)", store.kind)
            return certificate
        finally:
            if owned:
                session.close()

    # -- registration -----------------------------------------------------------------------------

    @staticmethod
    async def _register(ctx: JobContext, url: str, token: str | None, plan: _Plan, certificate: x509.Certificate,
                        pem: str) -> JobError | None:
        """POST ``{name, secours, certificate, sha256}`` (public data only) to the page's origin."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = to_json(KeyRegistration(
            name=plan.name,
            secours=plan.secours,
            certificate=pem,
            sha256=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
        ))
        ctx.set_message(ctx.t(T("Enregistrement du certificat auprès de la plateforme",
                                "Registering the certificate with the platform")))
        try:
            async with ctx.platform.request("POST", url, json=body, headers=headers) as response:
                if response.status < 300:
                    return None
                message = (f"Enregistrement refusé par la plateforme (HTTP {response.status})." if ctx.locale != "en"
                           else f"Registration refused by the platform (HTTP {response.status}).")
                return JobError(code=ErrorCode.PLATFORM_UNREACHABLE.value, message=message)
        except (ProtocolError, ReportedError) as exc:
            return JobError(code=exc.code.value, message=exc.message(ctx.locale))


def _p12_target(params: KeygenParams, folder: Path, name: str, secours: bool, local: bool) -> Path:
    """The new file: the user's key folder (0700 when created), or ``out`` from the command line
    (a folder, or a file name that must not exist yet)."""
    if params.out is not None and local:
        out = Path(params.out).expanduser()
        if out.is_dir():
            return engine.new_p12_path(out, name, secours)
        taken = [p for p in (out, engine.sidecar_path(out)) if p.exists()]
        if taken:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("le fichier {n} existe déjà", "the file {n} already exists").filled(n=taken[0].name))
        return out
    return engine.new_p12_path(folder, name, secours)


def _find_token(keystores: Any, label: str | None, certificate_id: str | None) -> KeyStore:
    """The token a page or the command line names, by a certificate on it or by its label."""
    if keystores is None:
        raise ProtocolError(ErrorCode.TOKEN_REMOVED)
    if certificate_id is not None:
        store, _ = keystores.find(certificate_id)
        if store.kind != "pkcs11":
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("ce certificat n'est pas sur un support PKCS#11",
                                                                 "this certificate is not on a PKCS#11 token"))
        return store
    tokens = [s for s in keystores.stores() if s.kind == "pkcs11"]
    if label is not None:
        tokens = [s for s in tokens if label in (getattr(s, "token_label", None), s.label)]
        if not tokens:
            raise ProtocolError(ErrorCode.TOKEN_REMOVED,
                                    T("Support introuvable : {label}", "Token not found: {label}").filled(label=label))
    if not tokens:
        raise ProtocolError(ErrorCode.TOKEN_REMOVED, T("Aucun support (carte à puce ou clé USB) n'est présent.",
                                                      "No token (smart card or USB key) is present."))
    if len(tokens) > 1:
        names = ", ".join(s.label for s in tokens)
        raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("plusieurs supports : précisez lequel ({names})",
                                                             "several tokens: say which one ({names})").filled(names=names))
    return tokens[0]


KIND = Keygen()
