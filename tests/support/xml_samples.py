"""Sample XML inputs for the XAdES tests: a minimal PES V2 "PES_Aller", a plain XML document, a test
signature-policy document, and hostile documents (DOCTYPE with entities)."""

from __future__ import annotations

from pathlib import Path

DS = "http://www.w3.org/2000/09/xmldsig#"


def pes_aller(bordereau_ids: tuple[str | None, ...] = ("BORD-2024-001", "BORD-2024-002"),
              pes_id: str | None = None) -> bytes:
    """A minimal PES V2 (Hélios) "PES_Aller" in ISO-8859-1, one ``Bordereau`` per entry of
    ``bordereau_ids`` (``None``: a Bordereau without Id). The root declares ``ds`` and the legacy
    ``xad`` prefixes as real flows do."""
    bordereaux = []
    for index, bordereau_id in enumerate(bordereau_ids, start=1):
        id_attr = f' Id="{bordereau_id}"' if bordereau_id else ""
        bordereaux.append(f"""
    <Bordereau{id_attr}>
      <BlocBordereau>
        <Exer V="2024"/>
        <IdBord V="{index}"/>
        <DteBordEm V="2024-03-1{index}"/>
        <TypBord V="01"/>
        <MtBordHT V="{1000 * index}.50"/>
      </BlocBordereau>
      <Piece>
        <BlocPiece>
          <InfoPce>
            <IdPce V="{100 + index}"/>
            <Obj V="Fournitures de bureau - lot n°{index} (école élémentaire)"/>
          </InfoPce>
        </BlocPiece>
        <LigneDePiece>
          <BlocLignePiece>
            <InfoLignePce><IdLigne V="1"/><MtHT V="{1000 * index}.50"/></InfoLignePce>
          </BlocLignePiece>
        </LigneDePiece>
      </Piece>
    </Bordereau>""")
    pes_attr = f' Id="{pes_id}"' if pes_id else ""
    text = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<PES_Aller xmlns:xad="http://uri.etsi.org/01903/v1.1.1#" xmlns:ds="{DS}" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"{pes_attr}>
  <Enveloppe>
    <Parametres><Version V="2"/><TypFic V="PESALR2"/><NomFic V="PESALR2_21340000_20240311.xml"/></Parametres>
    <Emetteur><Sigle V="COMPAGNON"/></Emetteur>
  </Enveloppe>
  <EnTetePES>
    <DteStr V="2024-03-11"/>
    <IdPost V="034000"/>
    <LibelleColBud V="COMMUNE DE SAINT-ÉTIENNE-DE-TEST"/>
    <IdColl V="21340000000017"/>
    <CodCol V="001"/>
    <CodBud V="00"/>
  </EnTetePES>
  <PES_DepenseAller>
    <EnTeteDepense><IdVer V="2"/><InfoDematerialisee V="1"/></EnTeteDepense>{"".join(bordereaux)}
  </PES_DepenseAller>
  <!-- fin du flux -->
</PES_Aller>
"""
    return text.encode("iso-8859-1")


def plain_xml() -> bytes:
    """An ordinary UTF-8 XML document with a default namespace, a prefixed one, a comment and a PI."""
    return """<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="offre.xsl"?>
<Offre xmlns="urn:example:marches:offre" xmlns:m="urn:example:marches:montants" reference="2024-AO-017">
  <!-- réponse de l'entreprise -->
  <Entreprise siret="12345678900011">ENTREPRISE EXEMPLE</Entreprise>
  <Lot numero="1">
    <Intitule>Maintenance des ascenseurs — bâtiment « Préfecture »</Intitule>
    <m:Montant devise="EUR">125000.00</m:Montant>
  </Lot>
</Offre>
""".encode()


def policy_document(version: int = 1) -> bytes:
    """A stand-in for a signature policy PDF (its bytes are what gets hashed)."""
    return (f"%PDF-1.4\n% Politique de signature de test, version {version}\n"
            "1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n").encode()


def xxe_document(secret_file: Path) -> bytes:
    """An XML document whose external entity would pull ``secret_file`` in (XXE)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Offre [
  <!ENTITY secret SYSTEM "file://{secret_file}">
]>
<Offre><Note>&secret;</Note></Offre>
""".encode()


def billion_laughs() -> bytes:
    """An internal-subset entity bomb."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    subset = "\n".join(entities)
    return f'<?xml version="1.0"?>\n<!DOCTYPE bomb [\n{subset}\n]>\n<bomb>&lol9;</bomb>\n'.encode()
