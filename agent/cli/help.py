"""The command line's own help texts (``help=``, ``description=``, ``metavar=`` of the parsers in
``agent.cli.parser``, ``agent.cli.bids``, ``agent.cli.admin``, ``agent.cli.update``) in English: the
parsers are written in French, the product's language, and ``in_language`` puts each text in English
when the command line speaks English (argparse's own texts are handled by ``agent.cli.lang``)."""

from __future__ import annotations

import argparse

#: Each French help text or value name of the command line, and its English.
HELP_EN = {
    "Compagnon : signature et plis chiffrés, sur votre poste.": "Compagnon: signatures and encrypted bids, on your computer.",
    "COMMANDE": "COMMAND",
    "afficher la version et quitter": "show the version and exit",
    "lancer l'agent sans icône (headless)": "run the agent without its icon (headless)",
    "lancer l'agent avec son icône et sa console locale": "run the agent with its icon and local console",
    "ouvrir la console de l'agent lancé": "open the running agent's console",
    "lancer l'agent et la plateforme de démonstration": "run the agent and the demonstration platform",
    "sites autorisés : lister, révoquer": "allowed sites: list, revoke",
    "lister les certificats utilisables (signature ou déchiffrement)": "list the certificates you can use (signing or decryption)",
    "signer des fichiers (PAdES, CAdES, XAdES)": "sign files (PAdES, CAdES, XAdES)",
    "ajouter une co-signature CAdES (.p7s, .p7m, .xp7s)": "add a CAdES co-signature (.p7s, .p7m, .xp7s)",
    "contre-signer un signataire d'une signature CAdES": "countersign one signer of a CAdES signature",
    "déchiffrer des plis (déchiffrement hors ligne)": "decrypt bids (offline decryption)",
    "chiffrer des fichiers pour les certificats de la consultation": "encrypt files for the tender's certificates",
    "créer un bi-clé de chiffrement (plis chiffrés)": "create an encryption key pair (encrypted bids)",
    "vérifier les signatures de fichiers ou de dossiers (un pli), avec un rapport":
        "verify the signatures of files or folders (a bid), with a report",
    "plis d'une consultation : télécharger, ouvrir en ligne": "a tender's bids: download, open online",
    "journal d'audit : afficher, vérifier, exporter": "audit journal: show, verify, export",
    "état du poste ; --bundle : fichier de diagnostic pour l'assistance":
        "state of this computer; --bundle: a diagnostic file for support",
    "mises à jour signées : vérifier, préparer, état": "signed updates: check, prepare, status",
    "tester la configuration du poste": "test this computer's configuration",
    "fichier de configuration TOML": "TOML configuration file",
    "journal détaillé": "detailed log",
    "langue des messages (défaut : celle du système, LANG / LC_ALL)": "language of the messages (default: the system's, LANG / LC_ALL)",
    "port d'écoute (défaut 47230, puis jusqu'à 47233, puis 47234-47329)":
        "listening port (default 47230, then up to 47233, then 47234-47329)",
    "site autorisé à se connecter, ex. https://marches.example.fr (répétable)":
        "site allowed to connect, e.g. https://marches.example.fr (repeatable)",
    "rubrique à afficher": "section to show",
    "port de l'agent": "the agent's port",
    "port de la plateforme de démonstration": "the demonstration platform's port",
    "site à révoquer": "site to revoke",
    "usage recherché (all : tous, avec l'usage de chacun)": "purpose wanted (all: every one, with its purpose)",
    "module PKCS#11 en plus des chemins habituels (répétable)": "PKCS#11 module besides the usual paths (repeatable)",
    "fichier PKCS#12 à ouvrir (mot de passe demandé)": "PKCS#12 file to open (its password is asked)",
    "FICHIER": "FILE",
    "lire le mot de passe sur l'entrée standard": "read the password on standard input",
    "racine de confiance supplémentaire (répétable)": "additional trust anchor (repeatable)",
    "résultat en JSON": "result in JSON",
    "fichiers à signer ; un dossier : ses fichiers .xml (flux PES), en une fois":
        "files to sign; a folder: its .xml files (PES flows), at once",
    "CAdES attaché (.p7m) au lieu de détaché (.p7s)": "attached CAdES (.p7m) instead of detached (.p7s)",
    "XAdES enveloppé dans le XML signé": "XAdES enveloped in the signed XML",
    "profil PES V2 (Hélios) : une signature par Bordereau": "PES V2 profile (Hélios): one signature per Bordereau",
    "XAdES : rôle du signataire (PES : requis, ex. Ordonnateur)": "XAdES: the signer's role (PES: required, e.g. Ordonnateur)",
    "RÔLE": "ROLE",
    "XAdES : ville du lieu de signature (PES : requis)": "XAdES: city of the signing place (PES: required)",
    "VILLE": "CITY",
    "XAdES : code postal du lieu de signature (PES : requis)": "XAdES: postal code of the signing place (PES: required)",
    "XAdES : pays du lieu de signature (PES : requis, ex. France)": "XAdES: country of the signing place (PES: required, e.g. France)",
    "PAYS": "COUNTRY",
    "PAdES : cachet visible sur la page N (-1 : dernière)": "PAdES: visible stamp on page N (-1: the last one)",
    "PAdES : motif de la signature": "PAdES: reason for signing",
    "TEXTE": "TEXT",
    "certificat logiciel PKCS#12": "PKCS#12 software certificate",
    "module PKCS#11 de la carte ou de la clé": "PKCS#11 module of the card or USB key",
    "libellé du support PKCS#11": "label of the PKCS#11 token",
    "LIBELLÉ": "LABEL",
    "libellé du certificat sur le support": "label of the certificate on the token",
    "certificat d'un magasin du poste (magasin Windows…) : son id ou le début de son empreinte SHA-256, tels "
    "que « compagnon certs » les affiche":
        "certificate of a store of this computer (Windows store…): its id or the start of its SHA-256 "
        "fingerprint, as \"compagnon certs\" shows them",
    "lire le code PIN / mot de passe sur l'entrée standard": "read the PIN / password on standard input",
    "service d'horodatage RFC 3161 (niveaux B-T et plus)": "RFC 3161 time-stamping service (levels B-T and above)",
    "dossier des fichiers signés (défaut : à côté)": "folder of the signed files (default: beside them)",
    "DOSSIER": "FOLDER",
    "fichier signé (signature détachée)": "signed file (detached signature)",
    "empreinte SHA-256 du certificat à contre-signer": "SHA-256 fingerprint of the certificate to countersign",
    "PLI": "BID",
    "bi-clé dans un fichier PKCS#12": "key pair in a PKCS#12 file",
    "module PKCS#11 du support": "PKCS#11 module of the token",
    "libellé de la clé sur le support": "label of the key on the token",
    "bi-clé d'un magasin du poste (magasin Windows…) : son id ou le début de son empreinte SHA-256, tels "
    "que « compagnon certs --purpose decryption » les affiche":
        "key pair of a store of this computer (Windows store…): its id or the start of its SHA-256 "
        "fingerprint, as \"compagnon certs --purpose decryption\" shows them",
    "dossier des plis déchiffrés (défaut : à côté)": "folder of the decrypted bids (default: beside them)",
    "extraire une archive ZIP déchiffrée (en sécurité)": "extract a decrypted ZIP archive (safely)",
    "certificat de chiffrement destinataire (répétable)": "recipient's encryption certificate (repeatable)",
    "déposer les fichiers chiffrés à cette adresse de la plateforme et afficher l'accusé de réception":
        "deposit the encrypted files at this address of the platform and show the receipt",
    "lire le jeton d'accès sur l'entrée standard": "read the access token on standard input",
    "nom de la clé, CN du certificat (ex. « Jean DUPONT »)": "name of the key, the certificate's CN (e.g. \"Jean DUPONT\")",
    "NOM": "NAME",
    "clé de secours : chaque pli lui sera aussi chiffré": "backup key: every bid is also encrypted for it",
    "taille de la clé RSA": "size of the RSA key",
    "organisation (champ O du certificat)": "organisation (the certificate's O field)",
    "ORGANISATION": "ORGANISATION",
    "fichier PKCS#12 à créer, ou dossier (défaut : le dossier des clés)": "PKCS#12 file to create, or folder (default: the keys folder)",
    "module PKCS#11 du support (clé non exportable)": "PKCS#11 module of the token (non-exportable key)",
    "dans le magasin de certificats Windows (clé non exportable ; Windows seulement)":
        "in the Windows certificate store (non-exportable key; Windows only)",
    "réutiliser la clé de ce certificat (id donné par « compagnon certs --purpose decryption »)":
        "reuse the key of this certificate (id given by \"compagnon certs --purpose decryption\")",
    "écrire aussi le certificat public (PEM)": "also write the public certificate (PEM)",
    "FICHIER.pem": "FILE.pem",
    "fichier ou dossier (parcouru) ; plusieurs : un seul rapport pour l'ensemble":
        "file or folder (walked); several: one report for them all",
    "fichier signé (signature détachée ; un seul FICHIER)": "signed file (detached signature; one FILE only)",
    "écrire le rapport HTML": "write the HTML report",
    "RAPPORT.html": "REPORT.html",
    "rapport JSON sur la sortie standard": "JSON report on standard output",
    "écrire le document contenu dans une signature enveloppante (.p7m)": "write the document held in an enveloping signature (.p7m)",
    "SORTIE": "OUTPUT",
    "télécharger les plis chiffrés d'une consultation": "download a tender's encrypted bids",
    "ouvrir en ligne : télécharger, déchiffrer, transmettre à la plateforme": "open online: download, decrypt, send to the platform",
    "adresse de la description de la consultation (http(s))": "address of the tender's description (http(s))",
    "seulement ces plis (identifiants de la plateforme)": "only these bids (the platform's identifiers)",
    "dossier des plis (défaut : celui de Compagnon)": "folder of the bids (default: Compagnon's)",
    "seulement ces enveloppes de chaque pli": "only these envelopes of each bid",
    "ne rien transmettre à la plateforme": "send nothing to the platform",
    "export : fichier de destination": "export: destination file",
    "show : les entrées en JSON": "show: the entries in JSON",
    "show : seulement les N dernières entrées": "show: only the last N entries",
    "plateforme à joindre (origine http(s))": "platform to reach (http(s) origin)",
    "écrire un fichier ZIP de diagnostic (défaut : ~/Documents ou ~/Compagnon-diagnostic-<date>.zip)":
        "write a diagnostic ZIP file (default: ~/Documents or ~/Compagnon-diagnostic-<date>.zip)",
    "FICHIER.zip": "FILE.zip",
}


def in_language(parser: argparse.ArgumentParser, locale: str) -> argparse.ArgumentParser:
    """``parser`` and its sub-parsers with their help texts and value names in ``locale``: as
    written (French), or each replaced by its English from ``HELP_EN``."""
    if locale != "en":
        return parser

    def english(text: str | None) -> str | None:
        return HELP_EN.get(text, text) if text is not None else None

    def walk(current: argparse.ArgumentParser) -> None:
        current.description = english(current.description)
        for action in current._actions:
            action.help = english(action.help)
            if isinstance(action.metavar, str):
                action.metavar = english(action.metavar)
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    choice.help = english(choice.help)
                for child in dict.fromkeys(action.choices.values()):
                    walk(child)

    walk(parser)
    return parser


__all__ = ["HELP_EN", "in_language"]
