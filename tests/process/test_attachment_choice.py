"""Which files go along with an announcement or a relay, and how they are named there."""

from __future__ import annotations

import pytest

from mailbot.kinds import AttachmentFate
from mailbot.mail.attachments import Attachment
from mailbot.process.attachments import Kept, Listed, choose

MIB = 1024 * 1024


def kept(index: int, size: int, risk: str = "") -> Kept:
    file = Attachment(f"f{index}.pdf", "application/pdf", False, "base64", pieces=())
    return Kept(index, file, size, f"{index:064x}", risk)


def fates(files: list[Kept], budget: int) -> list[AttachmentFate]:
    enclosures, listed = choose(files, budget)
    assert [e.name for e in enclosures] == [i.name for i in listed if i.attached]
    return [i.fate for i in listed]


def test_files_go_in_order_while_they_fit_together() -> None:
    files = [kept(1, 6 * MIB), kept(2, 5 * MIB), kept(3, 4 * MIB), kept(4, 1)]
    assert fates(files, 10 * MIB) == [
        AttachmentFate.ATTACHED, AttachmentFate.TOO_LARGE, AttachmentFate.ATTACHED,
        AttachmentFate.TOO_LARGE,
    ]


def test_a_program_never_goes_and_takes_no_room() -> None:
    files = [kept(1, 100, risk="name ends in .exe"), kept(2, 10 * MIB)]
    assert fates(files, 10 * MIB) == [AttachmentFate.PROGRAM, AttachmentFate.ATTACHED]


def test_a_limit_of_zero_sends_nothing_not_even_an_empty_file() -> None:
    assert fates([kept(1, 0), kept(2, 10)], 0) == [AttachmentFate.TOO_LARGE] * 2


@pytest.mark.parametrize(
    ("name", "save_as"),
    [
        ("Prüfbericht März.pdf", "Pr_fbericht_M_rz.pdf"),
        ("a; rm -rf ~ $(id) `x`.pdf", "a_rm_-rf_id_x_.pdf"),
        ("-rf.pdf", "rf.pdf"),
        ("...", "attachment-7"),
    ],
)
def test_the_suggested_file_name_is_safe_to_paste_into_a_shell(name: str, save_as: str) -> None:
    item = Listed(7, name, "application/pdf", 10, AttachmentFate.TOO_LARGE, "")
    assert item.save_as == save_as
