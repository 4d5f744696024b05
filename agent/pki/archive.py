"""Safe extraction of the ZIP archives inside sealed bids (APPNOTE 6.3.x; docs/SECURITY.md promise 8).

* Nothing lands outside ``out_dir``: absolute names, drive letters, ``..`` components, backslash
  tricks and symbolic-link entries are refused, and every parent folder is resolved and checked
  (a symlink already inside ``out_dir`` cannot be followed out).
* ZIP bombs stop early: the entry count and the size of the central directory are read from the
  end records before the directory is loaded (``zipfile`` loads it by its size, whatever the count
  says: a lying count cannot make it build millions of entries); sizes and ratios are counted on
  the bytes actually decompressed, while streaming, never taken from the headers (which only serve
  for an early refusal).
* The same guards serve readers that never extract (the ASiC verifier, ``agent.validation.asic``):
  :func:`open_archive` checks the end records, the entries (names, links, duplicates, encryption,
  declared sizes and ratios) and opens the archive; :class:`Inflation` streams an entry's bytes
  while counting them against the limits.
* Files are written under temporary names and renamed once complete (``OutputBatch``); if
  extraction fails, every file and folder it created is removed, ``out_dir`` itself included when
  it did not exist before: a refused archive leaves no folder that looks like an extraction.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..fsutil import OutputBatch, private_folder
from .ber import CHUNK, EnvelopeError

#: Ratios are not judged on entries smaller than this (a short text compresses very well).
RATIO_FLOOR = 1024 * 1024
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_LOCATOR64 = b"PK\x06\x07"
#: Central-directory octets allowed per permitted entry: a record is 46 octets plus its name, extra
#: field and comment (APPNOTE 4.3.12); real archives stay well under a few hundred.
CENTRAL_BYTES_PER_ENTRY = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe(detail: str, english: str) -> EnvelopeError:
    return EnvelopeError("ARCHIVE_UNSAFE", f"Archive refusée : {detail}.", f"Archive refused: {english}.")


def _unreadable() -> EnvelopeError:
    return EnvelopeError("FORMAT_FAILURE", "Archive ZIP illisible ou endommagée.",
                         "Unreadable or damaged ZIP archive.")


def _encrypted(name: str) -> EnvelopeError:
    return EnvelopeError("UNSUPPORTED_ALGORITHM", f"Entrée chiffrée « {name} » non prise en charge.",
                         f'Encrypted entry "{name}" is not supported.')


def _unsupported_method() -> EnvelopeError:
    return EnvelopeError("UNSUPPORTED_ALGORITHM", "Méthode de compression non prise en charge.",
                         "Unsupported compression method.")


def _too_large() -> EnvelopeError:
    return _unsafe("contenu décompressé trop volumineux", "decompressed content too large")


def _central_directory(zip_path: Path) -> tuple[int, int] | None:
    """(entries, octets) of the central directory as the end records announce them, None without an
    end record (``zipfile`` then refuses the file).

    The end-of-central-directory record (APPNOTE 4.3.16) is the last one in the final 64 KiB; a
    ZIP64 end record (4.3.14) and its locator (4.3.15) right before it replace its values, read
    where :mod:`zipfile` reads them, so the figures are the ones it is about to trust.
    """
    with zip_path.open("rb") as stream:
        size = stream.seek(0, 2)
        tail = min(size, 22 + 0xFFFF)
        stream.seek(size - tail)
        data = stream.read(tail)
        at = data.rfind(_EOCD)
        if at < 0 or at + 22 > len(data):
            return None
        total, central_size = struct.unpack_from("<HI", data, at + 10)
        record_at = size - tail + at - 20 - 56
        if record_at >= 0:
            stream.seek(record_at)
            zip64 = stream.read(76)
            if zip64[56:60] == _LOCATOR64 and zip64[:4] == _EOCD64:
                total, central_size = struct.unpack_from("<QQ", zip64, 32)
    return total, central_size


def _parts(name: str) -> list[str]:
    """Safe relative path components of an entry name, or ARCHIVE_UNSAFE."""
    if not name or "\x00" in name:
        raise _unsafe("nom d'entrée invalide", "invalid entry name")
    unified = name.replace("\\", "/")  # Windows archivers use backslashes
    if unified.startswith("/") or _DRIVE.match(unified):
        raise _unsafe(f"chemin absolu « {name} »", f'absolute path "{name}"')
    parts = [p for p in PurePosixPath(unified).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _unsafe(f"chemin sortant du dossier « {name} »", f'path "{name}" leaves the folder')
    if not parts:
        raise _unsafe("nom d'entrée invalide", "invalid entry name")
    return parts


def _check_entries(entries: list[zipfile.ZipInfo], max_ratio: float) -> list[list[str]]:
    """The safe path components of every entry, after refusing what no reader may follow: unsafe
    names, symbolic links, names that collide on a case-insensitive file system, encrypted files,
    and entries whose headers already announce a ratio above ``max_ratio`` (the streaming count
    still judges the bytes actually inflated: headers may lie)."""
    seen: set[str] = set()
    found = []
    for info in entries:
        parts = _parts(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _unsafe(f"lien symbolique « {info.filename} »", f'symbolic link "{info.filename}"')
        key = "/".join(parts).casefold()  # case-insensitive file systems would merge these
        if key in seen:
            raise _unsafe(f"entrée en double « {info.filename} »", f'duplicate entry "{info.filename}"')
        seen.add(key)
        if not info.is_dir():
            if info.flag_bits & 0x1:
                raise _encrypted(info.filename)
            if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                raise _ratio(info.filename)
        found.append(parts)
    return found


def _ratio(name: str | None = None) -> EnvelopeError:
    if name is None:
        return _unsafe("taux de compression anormal", "abnormal compression ratio")
    return _unsafe(f"taux de compression anormal pour « {name} »", f'abnormal compression ratio for "{name}"')


def open_archive(zip_path: Path, *, max_total: int, max_ratio: float, max_entries: int
                 ) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo], list[list[str]]]:
    """``zip_path`` opened once its end records, entry count, declared sizes and every entry
    (:func:`_check_entries`) passed, the whole archive's declared ratio included: (archive, entries
    in archive order, their safe path parts).
    The caller closes the archive. Raises EnvelopeError ARCHIVE_UNSAFE, FORMAT_FAILURE or
    UNSUPPORTED_ALGORITHM; nothing is inflated here."""
    try:
        directory = _central_directory(zip_path)
    except OSError:
        raise _unreadable() from None
    if directory is not None:
        declared, central_size = directory
        if declared > max_entries:
            raise _unsafe(f"trop d'entrées ({declared}, au plus {max_entries})",
                          f"too many entries ({declared}, at most {max_entries})")
        if central_size > max_entries * CENTRAL_BYTES_PER_ENTRY:
            raise _unsafe(f"répertoire central démesuré ({central_size} octets, au plus {max_entries} entrées)",
                          f"oversized central directory ({central_size} bytes, at most {max_entries} entries)")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _unreadable() from None
    try:
        entries = archive.infolist()
        if len(entries) > max_entries:
            raise _unsafe(f"trop d'entrées ({len(entries)}, au plus {max_entries})",
                          f"too many entries ({len(entries)}, at most {max_entries})")
        declared = sum(e.file_size for e in entries)
        if declared > max_total:
            raise _too_large()
        if declared > RATIO_FLOOR and declared > max_ratio * max(zip_path.stat().st_size, 1):
            raise _ratio()
        parts = _check_entries(entries, max_ratio)
    except BaseException:
        archive.close()
        raise
    return archive, entries, parts


class Inflation:
    """The bytes one archive may still inflate: ``max_total`` in all, and at most ``max_ratio``
    inflated bytes per compressed byte (per entry beyond ``RATIO_FLOOR``, and for the archive of
    ``archive_size`` bytes), counted on the bytes actually produced, across every entry read."""

    def __init__(self, *, max_total: int, max_ratio: float, archive_size: int) -> None:
        self.max_total = max_total
        self.max_ratio = max_ratio
        self.archive_size = archive_size
        self.total = 0

    def blocks(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, chunk: int = CHUNK) -> Iterator[bytes]:
        """The inflated bytes of ``info`` in pieces of at most ``chunk``; ARCHIVE_UNSAFE as soon as a
        limit is passed, FORMAT_FAILURE for a damaged entry (bad data, wrong CRC-32)."""
        written = 0
        try:
            with archive.open(info) as source:
                while block := source.read(chunk):
                    written += len(block)
                    self.total += len(block)
                    if self.total > self.max_total:
                        raise _too_large()
                    if written > RATIO_FLOOR and written > self.max_ratio * max(info.compress_size, 1):
                        raise _ratio(info.filename)
                    if self.total > RATIO_FLOOR and self.total > self.max_ratio * max(self.archive_size, 1):
                        raise _ratio()
                    yield block
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise _unreadable() from None
        except NotImplementedError:
            raise _unsupported_method() from None


def _inside(root: Path, path: Path) -> bool:
    return path.resolve() == root or path.resolve().is_relative_to(root)


def extract_zip(zip_path: Path, out_dir: Path, *, max_total: int, max_ratio: float, max_entries: int) -> list[Path]:
    """Extract ``zip_path`` into ``out_dir``; returns the files written, in archive order.

    Limits: ``max_entries`` entries, ``max_total`` bytes decompressed in all, and at most
    ``max_ratio`` decompressed bytes per compressed byte (per entry beyond 1 MiB, and for the
    whole archive). Raises EnvelopeError ARCHIVE_UNSAFE, FORMAT_FAILURE or UNSUPPORTED_ALGORITHM
    (encrypted entries, unknown compression); on failure nothing extracted is left behind.
    """
    created_files: list[Path] = []
    created_dirs = _missing_folders(out_dir)
    private_folder(out_dir)
    root = out_dir.resolve(strict=True)
    batch = OutputBatch()
    try:
        try:
            archive_size = zip_path.stat().st_size
        except OSError:
            raise _unreadable() from None
        archive, entries, parts = open_archive(zip_path, max_total=max_total, max_ratio=max_ratio,
                                               max_entries=max_entries)
        with archive:
            inflation = Inflation(max_total=max_total, max_ratio=max_ratio, archive_size=archive_size)
            _extract_all(archive, entries, parts, root, batch, created_files, created_dirs, inflation)
            batch.commit()
    except BaseException as exc:
        batch.abandon()
        for path in created_files:
            path.unlink(missing_ok=True)
        for folder in sorted(created_dirs, key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()
            except OSError:
                pass
        if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError)):
            raise _unreadable() from None
        if isinstance(exc, NotImplementedError):
            raise _unsupported_method() from None
        raise
    return created_files


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, outermost first."""
    missing: list[Path] = []
    probe = folder.absolute()
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    return missing[::-1]


def _make_dirs(root: Path, folder: Path, created_dirs: list[Path]) -> None:
    missing: list[Path] = []
    probe = folder
    while probe != root and not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir()
        created_dirs.append(path)
    if not folder.is_dir() or not _inside(root, folder):
        raise _unsafe("dossier hors de la destination", "folder outside the destination")


def _extract_all(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], parts: list[list[str]], root: Path,
                 batch: OutputBatch, created_files: list[Path], created_dirs: list[Path], inflation: Inflation) -> None:
    for info, names in zip(entries, parts):
        target = root.joinpath(*names)
        if info.is_dir():
            _make_dirs(root, target, created_dirs)
            continue
        _make_dirs(root, target.parent, created_dirs)
        if target.exists() or target.is_symlink():
            raise _unsafe(f"« {info.filename} » existe déjà", f'"{info.filename}" already exists')
        with batch.output(target) as output:
            for block in inflation.blocks(archive, info):
                output.write(block)
        created_files.append(target)
