"""commands: the technicians' ``#`` lines, in German and English.

A command is a whole line: ``#word`` with at most one value. ``#prio`` and ``#status``
with a value nobody understands are reported; any other ``#`` line is text.
"""

from __future__ import annotations

import pytest

from mailbot.mail.commands import Command, CommandName, scan
from mailbot.store import TicketStatus
from mailbot.triage import Priority

PRIORITY_WORDS = {
    "kritisch": Priority.CRITICAL,
    "hoch": Priority.CRITICAL,
    "critical": Priority.CRITICAL,
    "normal": Priority.NORMAL,
    "mittel": Priority.NORMAL,
    "niedrig": Priority.LOW,
    "gering": Priority.LOW,
    "low": Priority.LOW,
}
STATUS_WORDS = {
    "offen": TicketStatus.OPEN,
    "open": TicketStatus.OPEN,
    "wartend": TicketStatus.WAITING,
    "warten": TicketStatus.WAITING,
    "waiting": TicketStatus.WAITING,
    "erledigt": TicketStatus.SOLVED,
    "geschlossen": TicketStatus.SOLVED,
    "solved": TicketStatus.SOLVED,
    "closed": TicketStatus.SOLVED,
}


@pytest.mark.parametrize(("word", "priority"), PRIORITY_WORDS.items())
def test_every_priority_word(word: str, priority: Priority) -> None:
    found = scan(f"#prio {word}")
    assert found.commands == (Command(CommandName.PRIORITY, priority, f"#prio {word}"),)
    assert found.unknown == () and found.text == ""


@pytest.mark.parametrize(("word", "status"), STATUS_WORDS.items())
def test_every_status_word_is_a_ticket_status(word: str, status: TicketStatus) -> None:
    (command,) = scan(f"#status {word}").commands
    assert command.name == CommandName.STATUS
    assert command.value == status
    # The very stored value: a ticket set to it reads back as that TicketStatus.
    assert TicketStatus(command.value) is status


@pytest.mark.parametrize("word", ["übernehmen", "uebernehmen", "take"])
def test_take_in_both_languages(word: str) -> None:
    assert scan(f"#{word}").commands == (Command(CommandName.TAKE, "", f"#{word}"),)


@pytest.mark.parametrize("word", ["intern", "internal"])
def test_internal_in_both_languages(word: str) -> None:
    found = scan(f"Nur für uns: Kennwort liegt im Safe.\n#{word}")
    assert found.commands == (Command(CommandName.INTERNAL, "", f"#{word}"),)
    assert found.internal
    assert found.text == "Nur für uns: Kennwort liegt im Safe."


def test_words_and_values_are_read_without_regard_to_case_and_blanks() -> None:
    found = scan("  #PRIO   Kritisch  \n\t#Status\tERLEDIGT\n#Übernehmen\n#INTERN ")
    assert [(c.name, c.value) for c in found.commands] == [
        (CommandName.PRIORITY, Priority.CRITICAL),
        (CommandName.STATUS, TicketStatus.SOLVED),
        (CommandName.TAKE, ""),
        (CommandName.INTERNAL, ""),
    ]
    # The line as written, only its outer blanks gone: the audit trail quotes it.
    assert [c.line for c in found.commands] == [
        "#PRIO   Kritisch",
        "#Status\tERLEDIGT",
        "#Übernehmen",
        "#INTERN",
    ]


def test_commands_leave_the_text_for_the_customer() -> None:
    found = scan(
        "#prio niedrig\n"
        "\n"
        "Guten Tag Frau Müller,\n"
        "#status wartend\n"
        "der Drucker ist bestellt.\n"
        "\n"
        "#übernehmen\n"
    )
    assert [c.name for c in found.commands] == [
        CommandName.PRIORITY,
        CommandName.STATUS,
        CommandName.TAKE,
    ]
    assert not found.internal
    # Command lines go; the blank lines around the text stay inside, not at its ends.
    assert found.text == "Guten Tag Frau Müller,\nder Drucker ist bestellt."


@pytest.mark.parametrize(
    "line",
    ["#prio", "#prio dringend", "#prio sofort!", "#status", "#status vielleicht", "#status 3"],
)
def test_a_prio_or_status_nobody_understands_is_reported(line: str) -> None:
    found = scan(f"Hallo\n  {line}  \nGruß")
    assert found.commands == ()
    assert found.unknown == (line,)
    # Not relayed either: a mistyped command is not a message to the customer.
    assert found.text == "Hallo\nGruß"


@pytest.mark.parametrize(
    "line",
    [
        # values to commands that take none, or words no command has
        "#take now",
        "#intern bitte",
        "#übernehme",
        "#close",
        "#done",
        "#follow-up",
        # prose that starts like a command
        "#3 im Flur",
        "#3",
        "#status erledigt, danke",
        "#prio kritisch bitte sofort",
        "#Status: erledigt",
        "# status erledigt",
        "Bitte #status erledigt setzen",
        "Ticket #1042 ist erledigt",
        "##prio kritisch",
        # quoted lines are the earlier mail's, not this one's commands
        "> #status erledigt",
        ">#prio kritisch",
        "> > #intern",
    ],
)
def test_lines_that_only_look_like_commands_are_text(line: str) -> None:
    found = scan(f"Hallo,\n{line}\nGruß")
    assert found.commands == ()
    assert found.unknown == ()
    assert not found.internal
    assert found.text == f"Hallo,\n{line}\nGruß"


def test_every_command_is_kept_in_order_even_when_repeated() -> None:
    found = scan("#prio kritisch\n#prio niedrig\n#status offen")
    assert [(c.name, c.value) for c in found.commands] == [
        (CommandName.PRIORITY, Priority.CRITICAL),
        (CommandName.PRIORITY, Priority.LOW),
        (CommandName.STATUS, TicketStatus.OPEN),
    ]


def test_text_without_commands_is_left_as_it_is() -> None:
    text = "Guten Tag,\n\n  eingerückt\nEnde"
    found = scan(text)
    assert found == scan(text)  # no state between scans
    assert found.commands == () and found.unknown == ()
    assert found.text == text
    assert scan("").text == ""


# -- #kein-spam in a reply to the spam notice ------------------------------------------


@pytest.mark.parametrize(
    ("line", "ids"),
    [
        ("#kein-spam 17", (17,)),
        ("#not-spam 17", (17,)),
        ("  #Kein-Spam #17, #18", (17, 18)),
        ("#keinspam 3 3 4", (3, 4)),
        ("#no-spam 5;6", (5, 6)),
    ],
)
def test_not_spam_names_the_ids_it_releases(line: str, ids: tuple[int, ...]) -> None:
    result = scan(f"Die ist echt.\n{line}\nGruß")
    [command] = result.commands
    assert command.name == CommandName.NOT_SPAM and command.ids == ids
    assert result.text == "Die ist echt.\nGruß"


@pytest.mark.parametrize("line", ["#kein-spam", "#kein-spam bitte 17", "#not-spam 17 und 18"])
def test_not_spam_without_clean_ids_is_reported(line: str) -> None:
    result = scan(line)
    assert result.commands == () and result.unknown == (line,)


def test_a_long_not_spam_line_is_read_at_once() -> None:
    """A hostile line of digits must not make the reader backtrack for seconds."""
    import time

    started = time.perf_counter()
    result = scan("#kein-spam " + "1" * 5000 + "x")
    assert result.commands == ()
    assert time.perf_counter() - started < 0.5
