"""Run `manage.py train` and SIGTERM itself at a chosen moment (a drill helper, run as a subprocess).

    python tests/drills/sigterm_train.py MOMENT manage.py train ...

MOMENT: "mid-artifact" (while the LSTM artifact is half written) or "before-registry" (artifacts
written, inside the transaction that registers them). The signal is real and uncaught, as from
`kill`; only its timing is arranged, by wrapping our own functions."""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")

import django  # noqa: E402

django.setup()

from django.core.management import execute_from_command_line  # noqa: E402

moment = sys.argv.pop(1)
if sys.argv[1] == "manage.py":
    sys.argv.pop(1)


def die() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


if moment == "mid-artifact":
    from predictions.ml.artifacts import write_metadata
    from predictions.ml.lstm import LstmModel

    def save_half(self, directory):
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features, config={})
        die()

    LstmModel.save = save_half
elif moment == "before-registry":
    from predictions.models import ModelVersion

    original = ModelVersion.objects.create

    def create_then_die(**kwargs):
        original(**kwargs)
        die()

    ModelVersion.objects.create = create_then_die
else:
    raise SystemExit(f"unknown moment {moment}")

execute_from_command_line(sys.argv)
