"""Every command on a shop with no data answers clearly: a CommandError with a message, or an empty
result — never a traceback."""

import pytest
from django.core.management import CommandError, call_command

COMMANDS = [
    ["train", "--task", "churn", "--horizon", "30"],
    ["score"],
    ["backtest", "--task", "purchase", "--cutoff", "2026-01-01", "--horizon", "30"],
    ["build_recommendations", "--json"],
    ["evaluate_recommendations", "--json"],
    ["quality_report", "--json"],
    ["analyze_reviews", "--json"],
]


@pytest.mark.django_db
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_command_on_an_empty_shop_says_what_is_missing(shop, args, capsys):
    try:
        call_command(*args)
    except CommandError as exc:
        message = str(exc)
        assert message and "Traceback" not in message
        assert any(word in message.lower() for word in ("no orders", "no champion", "no customers", "import"))
    else:
        assert capsys.readouterr().out.strip()


@pytest.mark.django_db
def test_commands_with_several_shops_ask_which_one(shop, other_shop):
    with pytest.raises(CommandError, match="--shop"):
        call_command("score")
    with pytest.raises(CommandError, match="No shop 'nope'"):
        call_command("score", "--shop", "nope")
