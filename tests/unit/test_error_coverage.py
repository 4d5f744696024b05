"""Every error code a job kind is documented to give is produced by at least one test.

The documented codes are the contract's (bridge_protocol/kind_errors.py, published as
``x-kinds.<kind>.errors`` and in ``JobKinds`` of protocol.d.ts); the kinds' sections of PROTOCOL.md
may name no code outside it. ``PRODUCED_BY`` names, for each (kind, code), a test that makes a real
job of that kind end with that code (the job's error or a file's) and asserts it; this test checks
each named test exists and that its module asserts that code for that kind, so a documented code
without such a test, or a test renamed or removed, fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bridge_protocol.errors import ErrorCode
from bridge_protocol.kind_errors import ANY_KIND, KIND_ERRORS
from bridge_protocol.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]

#: (kind, code) -> "tests/...py::test_name" of a test producing it.
PRODUCED_BY: dict[tuple[str, str], str] = {
    ("sign", "USER_CANCELLED"): "tests/integration/test_sign_job.py::test_refused_consent_and_wrong_pin",
    ("sign", "PIN_INCORRECT"): "tests/integration/test_sign_job.py::test_refused_consent_and_wrong_pin",
    ("sign", "PIN_REQUIRED"): "tests/integration/test_sign_job.py::test_refused_consent_and_wrong_pin",
    ("sign", "PIN_LOCKED"): "tests/integration/test_second_chances.py::test_the_pin_is_asked_again_until_the_card_locks",
    ("sign", "TOKEN_REMOVED"): "tests/faults/test_fault_token.py::test_token_removed_in_the_middle_of_a_signing_batch",
    ("sign", "KEY_USAGE_NOT_SIGNING"):
        "tests/integration/test_key_usage.py::test_sign_job_refuses_an_encryption_key_before_consent",
    ("sign", "ORIGIN_NOT_ALLOWED"): "tests/security/test_ssrf.py::test_url_parameter_refuses_every_other_origin",
    ("sign", "PLATFORM_UNREACHABLE"):
        "tests/faults/test_fault_platform.py::test_network_cut_while_a_signature_is_uploaded",
    ("sign", "INVALID_PARAMS"): "tests/integration/test_forbidden_params.py::test_a_forbidden_or_unknown_member_is_refused_at_once",
    ("sign", "JOB_INTERRUPTED"): "tests/faults/test_fault_crashes.py::test_kill_9_during_a_signing_batch",
    ("verify", "FILE_UNREADABLE"):
        "tests/integration/test_verify_batch.py::test_a_folder_is_one_report_with_each_file_and_the_worst_exit_code",
    ("verify", "FILE_NOT_FOUND"):
        "tests/integration/test_verify_batch.py::test_verify_job_with_several_handles_reports_each_file",
    ("verify", "FILE_TOO_LARGE"):
        "tests/security/test_verify_memory_cap.py::test_a_file_past_the_memory_cap_stops_its_worker_not_the_agent",
    ("verify", "ORIGIN_NOT_ALLOWED"): "tests/security/test_ssrf.py::test_url_parameter_refuses_every_other_origin",
    ("decrypt", "NO_MATCHING_RECIPIENT"): "tests/integration/test_decrypt_job.py::test_refusals_leave_no_output",
    ("decrypt", "DECRYPTION_FAILED"): "tests/integration/test_decrypt_job.py::test_refusals_leave_no_output",
    ("decrypt", "UNSUPPORTED_ALGORITHM"):
        "tests/integration/test_kind_error_codes.py::test_decrypt_refuses_an_algorithm_it_does_not_open",
    ("decrypt", "FILE_UNREADABLE"): "tests/security/test_malicious_files.py::test_hostile_cms_refused_by_the_decrypt_job",
    ("decrypt", "ARCHIVE_UNSAFE"): "tests/security/test_malicious_files.py::test_archive_attacks_inside_envelopes",
    ("keygen", "ORIGIN_NOT_ALLOWED"): "tests/security/test_ssrf.py::test_url_parameter_refuses_every_other_origin",
    ("keygen", "USER_CANCELLED"): "tests/integration/test_keygen.py::test_refusals_and_platform_errors",
    ("keygen", "PIN_REQUIRED"): "tests/integration/test_keygen.py::test_refusals_and_platform_errors",
    ("bids.download", "PLATFORM_UNREACHABLE"):
        "tests/integration/test_bids_download.py::test_a_platform_that_keeps_failing_ends_the_job_after_bounded_retries",
    ("bids.download", "FILE_NOT_FOUND"):
        "tests/integration/test_kind_error_codes.py::test_a_missing_file_fails_alone_with_file_not_found",
    ("bids.download", "FILE_UNREADABLE"):
        "tests/integration/test_bids_download.py::test_a_wrong_sha256_fails_that_file_and_leaves_no_final_file",
    ("bids.download", "FILE_TOO_LARGE"):
        "tests/integration/test_bids_download.py::test_not_enough_disk_space_fails_before_any_download",
    ("bids.download", "ORIGIN_NOT_ALLOWED"):
        "tests/integration/test_bids_download.py::test_pages_cannot_choose_a_folder_nor_send_the_agent_elsewhere",
    ("bids.download", "JOB_INTERRUPTED"):
        "tests/integration/test_bids_download.py::test_kill_9_mid_download_then_a_new_job_resumes_from_the_part",
    ("bids.open", "NO_MATCHING_RECIPIENT"):
        "tests/integration/test_bids_open.py::test_what_is_not_sealed_to_the_user_fails_alone_and_a_tampered_tag_leaves_nothing",
    ("bids.open", "DECRYPTION_FAILED"):
        "tests/integration/test_bids_open.py::test_what_is_not_sealed_to_the_user_fails_alone_and_a_tampered_tag_leaves_nothing",
    ("bids.open", "PLATFORM_UNREACHABLE"):
        "tests/integration/test_bids_open.py::test_a_refused_upload_fails_the_job_and_keeps_the_opened_file",
    ("bids.open", "ORIGIN_NOT_ALLOWED"): "tests/integration/test_bids_open.py::test_results_go_only_to_the_jobs_own_origin",
    ("bids.open", "USER_CANCELLED"): "tests/integration/test_bids_open.py::test_a_refused_consent_opens_and_sends_nothing",
    ("encrypt", "KEY_USAGE_NOT_ENCRYPTION"):
        "tests/integration/test_key_usage.py::test_encrypt_refuses_a_signing_only_recipient",
    ("encrypt", "ORIGIN_NOT_ALLOWED"): "tests/security/test_ssrf.py::test_url_parameter_refuses_every_other_origin",
}

#: The codes every kind may give are produced once, by some kind (named in PRODUCED_BY).
ANY_KIND_BY = {code.value: [key for key in PRODUCED_BY if key[1] == code.value] for code in ANY_KIND}


def _function(path: Path, name: str) -> ast.AST | None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return next((node for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name), None)


def test_every_documented_code_of_every_kind_has_a_producing_test() -> None:
    assert set(KIND_ERRORS) == set(KINDS)
    documented = {(kind, code.value) for kind, codes in KIND_ERRORS.items() for code in codes}
    missing = sorted(documented - set(PRODUCED_BY))
    assert not missing, f"documented codes no test produces: {missing}"
    for code, keys in ANY_KIND_BY.items():
        assert keys, f"{code} (any kind): no test produces it"


def test_each_named_test_exists_and_asserts_its_code_for_its_kind() -> None:
    for (kind, code), node_id in PRODUCED_BY.items():
        file, name = node_id.split("::")
        path = ROOT / file
        assert path.is_file(), node_id
        function = _function(path, name)
        assert function is not None, f"{node_id}: no such test"
        module = path.read_text(encoding="utf-8")
        source = ast.get_source_segment(module, function) or ""
        assert re.search(rf"\b{code}\b", module), f"{node_id} never names {code}"
        # The kind is named in the test itself or in the module (a constant, the CLI command).
        command = kind.split(".")[-1] if kind.startswith("bids.") else kind
        assert (f'"{kind}"' in source or f"'{kind}'" in source or f'"{kind}"' in module
                or f'"{command}"' in module), f"{node_id} never runs {kind}"


def test_kind_sections_of_the_protocol_name_no_code_outside_the_contract() -> None:
    spec = (ROOT / "bridge_protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
    kinds_part = spec[spec.index("## 5. Job kinds"):spec.index("## 6. Errors")]
    codes = {c.value for c in ErrorCode}
    for section in re.split(r"^### ", kinds_part, flags=re.MULTILINE)[1:]:
        match = re.match(r"`([\w.]+)`", section)
        if not match or match.group(1) not in KINDS:
            continue
        kind = match.group(1)
        named = set(re.findall(r"`([A-Z][A-Z_]+)`", section)) & codes
        allowed = {c.value for c in (*KIND_ERRORS[kind], *ANY_KIND)}
        assert named <= allowed, f"PROTOCOL.md's {kind} names {sorted(named - allowed)}, not in kind_errors.py"
